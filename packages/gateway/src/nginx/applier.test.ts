import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { isAppError } from '@slipway/core'
import { freePort } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { get, namedServer, gatewayTest as test } from '../test-support/fixtures.ts'
import { NginxApplier } from './applier.ts'
import { testConfigText } from './files.ts'
import { probeConfig } from './probe.ts'
import { configPath, type RenderedSite, renderSite } from './render.ts'
import { nginxTargetAt, runNginx } from './target.ts'

async function siteFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort()
}

describe('NginxApplier on a private nginx', () => {
  test('an empty site answers 503 JSON; instances added later receive the traffic', async ({ nginx }) => {
    const applier = new NginxApplier({ target: nginx.target })
    const listenPort = await freePort()
    const empty = renderSite({ project: 'demo', environment: 'pre-release', listenPort, instances: [] })
    const first = await applier.apply(empty)
    expect(first).toMatchObject({ version: empty.version, changed: true })
    expect(first.reloadMs).toBeGreaterThanOrEqual(0)
    const unavailable = await get(listenPort, '/anything')
    expect(unavailable.status).toBe(503)
    expect(JSON.parse(unavailable.body)).toEqual({
      error: { code: 'DEPENDENCY_UNAVAILABLE', message: 'no live instance of demo/pre-release' },
    })

    const upstream = await namedServer('one')
    try {
      const site = renderSite({
        project: 'demo',
        environment: 'pre-release',
        listenPort,
        instances: [{ id: 'one', host: 'pre-1', port: upstream.port }],
      })
      expect(await applier.apply(site)).toMatchObject({ version: site.version, changed: true })
      expect(await get(listenPort)).toEqual({ status: 200, body: 'one\n' })
      expect(await probeConfig(listenPort)).toEqual({
        site: 'demo/pre-release',
        version: site.version,
        instances: ['one'],
      })
      expect(JSON.parse((await get(listenPort, configPath)).body).version).toBe(site.version)
      expect(await readFile(path.join(nginx.target.sitesDir, site.fileName), 'utf8')).toBe(site.text)
      // The same config again: nothing written, no reload.
      expect(await applier.apply(site)).toEqual({ version: site.version, changed: false })
      expect(await siteFiles(nginx.target.sitesDir)).toEqual(['demo_pre-release.conf'])
    } finally {
      await upstream.close()
    }
  })

  test('a config nginx rejects never becomes live and the old one keeps serving', async ({ nginx }) => {
    const applier = new NginxApplier({ target: nginx.target })
    const upstream = await namedServer('old')
    try {
      const listenPort = await freePort()
      const good = renderSite({
        project: 'demo',
        environment: 'production',
        listenPort,
        instances: [{ id: 'old', host: 'prod-1', port: upstream.port }],
      })
      await applier.apply(good)
      const bad: RenderedSite = { ...good, version: 'broken', text: `${good.text}\nthis is not nginx;\n` }
      const error = await applier.apply(bad).catch((caught: unknown) => caught)
      expect(isAppError(error) && error.code).toBe('VALIDATION_FAILED')
      expect((error as Error).message).toMatch(
        /nginx rejected the config of demo\/production: .*unknown directive "this"/s,
      )
      expect(await readFile(path.join(nginx.target.sitesDir, good.fileName), 'utf8')).toBe(good.text)
      expect(await siteFiles(nginx.target.sitesDir)).toEqual(['demo_production.conf'])
      expect(
        (await readdir(path.dirname(nginx.target.config))).filter((name) => name.startsWith('.')),
      ).toEqual([])
      expect(await get(listenPort)).toEqual({ status: 200, body: 'old\n' })
      expect((await probeConfig(listenPort))?.version).toBe(good.version)

      // A valid site that clashes with another file of the folder is rejected as a whole.
      await writeFile(
        path.join(nginx.target.sitesDir, 'other.conf'),
        'upstream slipway_demo_staging { server 127.0.0.1:1; }\n',
      )
      const clash = renderSite({
        project: 'demo',
        environment: 'staging',
        listenPort: await freePort(),
        instances: [{ id: 'x', host: 'h', port: 1 }],
      })
      const clashError = await applier.apply(clash).catch((caught: unknown) => caught)
      expect((clashError as Error).message).toMatch(/duplicate upstream "slipway_demo_staging"/)
      expect(await siteFiles(nginx.target.sitesDir)).toEqual(['demo_production.conf', 'other.conf'])
    } finally {
      await upstream.close()
    }
  })

  test('a reload nginx cannot carry out is undone and reported', async ({ nginx }) => {
    const applier = new NginxApplier({ target: nginx.target })
    const listenPort = await freePort()
    const before = renderSite({ project: 'demo', environment: 'production', listenPort, instances: [] })
    await applier.apply(before)
    // nginx -t does not bind ports: a port taken by someone else only fails at reload.
    const squatter = net.createServer()
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve))
    try {
      const taken = (squatter.address() as net.AddressInfo).port
      const moved = renderSite({
        project: 'demo',
        environment: 'production',
        listenPort: taken,
        instances: [],
      })
      const error = await applier.apply(moved).catch((caught: unknown) => caught)
      expect(isAppError(error) && error.code).toBe('DEPENDENCY_UNAVAILABLE')
      expect((error as Error).message).toMatch(/bind\(\) to 127\.0\.0\.1:\d+ failed/)
      expect(await readFile(path.join(nginx.target.sitesDir, before.fileName), 'utf8')).toBe(before.text)
      expect((await probeConfig(listenPort))?.version).toBe(before.version)
    } finally {
      squatter.close()
    }
  })

  test('concurrent applies are serialised and all end up live; removeSite takes one out', async ({
    nginx,
    redis,
    redisPrefix,
  }) => {
    const lease = { redis, key: `${redisPrefix}/gateway/lock/test` }
    const appliers = [
      new NginxApplier({ target: nginx.target, lease }),
      new NginxApplier({ target: nginx.target, lease }),
    ]
    const sites = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (environment) =>
        renderSite({ project: 'demo', environment, listenPort: await freePort(), instances: [] }),
      ),
    )
    await Promise.all(sites.map((site, index) => appliers[index % 2]?.apply(site)))
    for (const site of sites) expect((await probeConfig(site.listenPort))?.version).toBe(site.version)
    expect(await redis.exists(lease.key)).toBe(0)

    const [gone, kept] = sites as [RenderedSite, RenderedSite]
    await appliers[0]?.removeSite('demo', 'a', gone.listenPort)
    expect(await probeConfig(gone.listenPort)).toBeUndefined()
    expect((await get(gone.listenPort)).status).toBe(0)
    expect((await probeConfig(kept.listenPort))?.version).toBe(kept.version)
    expect(await siteFiles(nginx.target.sitesDir)).toEqual(['demo_b.conf', 'demo_c.conf', 'demo_d.conf'])
  })

  test('an nginx that is not running is reported, and the site file is put back', async ({ nginx }) => {
    const applier = new NginxApplier({ target: nginx.target, confirmTimeoutMs: 2000 })
    await nginx.stop()
    const site = renderSite({
      project: 'demo',
      environment: 'production',
      listenPort: await freePort(),
      instances: [],
    })
    const error = await applier.apply(site).catch((caught: unknown) => caught)
    expect(isAppError(error) && error.code).toMatch(/DEPENDENCY_UNAVAILABLE|TIMEOUT/)
    expect(await siteFiles(nginx.target.sitesDir)).toEqual([])
  })

  test('the fleet gateway (GATEWAY_DIR) is a target the applier can test against', async ({ fleet }) => {
    // Read-only: the candidate config goes to a temporary folder, the fleet's nginx is not touched.
    const target = nginxTargetAt(fleet.gatewayDir)
    const dir = await mkdtemp(path.join(tmpdir(), 'slipway-gw-fleet-'))
    try {
      const site = renderSite({
        project: 'gwcheck',
        environment: 'x',
        listenPort: await freePort(),
        instances: [],
      })
      const candidate = path.join(dir, site.fileName)
      await writeFile(candidate, site.text)
      const config = path.join(dir, 'nginx.conf')
      const text = await testConfigText(target, site.fileName, candidate)
      expect(text).toContain(`include ${candidate};`)
      await writeFile(config, text)
      const run = await runNginx({ ...target, errorLog: path.join(dir, 'error.log') }, [
        '-t',
        '-q',
        '-c',
        config,
      ])
      expect(run).toEqual({ code: 0, output: '' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
