import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { isAppError } from '@slipway/core'
import { freePort } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { get, gatewayTest as test, upstream } from '../test-support/fixtures.ts'
import { HaproxyApplier } from './applier.ts'
import { renderSite, type SiteServer } from './render.ts'
import { HaproxyRuntime } from './runtime.ts'

const server = (id: string, port: number): SiteServer => ({ id, host: 'pre-1', address: '127.0.0.1', port })

async function failure(work: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`)
  return { code: error.code, message: error.message }
}

describe('HaproxyApplier on a private HAProxy', () => {
  test('weights shape each server’s share of requests, changed in place (a canary’s steps, no reload)', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const applier = new HaproxyApplier({
      target: haproxy.target,
      lease: { redis, key: `${redisPrefix}/gateway/lock` },
    })
    const runtime = new HaproxyRuntime(haproxy.target)
    const listenPort = await freePort()
    const [old, canary] = [await upstream('old'), await upstream('new')]
    const site = (oldWeight: number, newWeight: number) =>
      renderSite({
        project: 'demo',
        environment: 'wt',
        listenPort,
        instances: [
          { ...server('old', old.port), weight: oldWeight },
          { ...server('new', canary.port), weight: newWeight },
        ],
      })
    /** Of `count` requests on fresh connections, those the new server answered. */
    const newShare = async (count: number) => {
      let answered = 0
      for (let i = 0; i < count; i++) if ((await get(listenPort)).body === 'new\n') answered++
      return answered / count
    }
    try {
      expect(await applier.apply(site(19, 1))).toMatchObject({ reloaded: true })
      const reloads = (await runtime.processes()).reloads
      expect((await runtime.servers('be_demo_wt'))?.map((s) => [s.name, s.weight])).toEqual([
        ['new', 1],
        ['old', 19],
      ])
      // Round robin by weight: 1 in 20 exactly over whole cycles.
      expect(await newShare(200)).toBeCloseTo(0.05, 2)

      expect(await applier.apply(site(1, 1))).toMatchObject({
        reloaded: false,
        commands: ['set server be_demo_wt/old weight 1'],
      })
      expect(await newShare(200)).toBeCloseTo(0.5, 2)
      expect(await applier.apply(site(1, 0))).toMatchObject({
        reloaded: false,
        commands: ['set server be_demo_wt/new weight 0'],
      })
      expect(await newShare(50)).toBe(0)
      expect((await runtime.processes()).reloads).toBe(reloads)
    } finally {
      await Promise.all([old.close(), canary.close()])
    }
  })

  test('a new site reloads once; instance changes go through the Runtime API; the same site is a no-op', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const applier = new HaproxyApplier({
      target: haproxy.target,
      lease: { redis, key: `${redisPrefix}/gateway/lock` },
    })
    const runtime = new HaproxyRuntime(haproxy.target)
    const listenPort = await freePort()
    const [one, two] = [await upstream('one'), await upstream('two')]
    try {
      const first = renderSite({
        project: 'demo',
        environment: 'ap',
        listenPort,
        instances: [server('one', one.port)],
      })
      const configured = await applier.apply(first)
      expect(configured).toMatchObject({ changed: true, reloaded: true, commands: ['reload'], draining: [] })
      expect((await get(listenPort)).body).toBe('one\n')
      const afterReload = await runtime.processes()

      const second = renderSite({
        project: 'demo',
        environment: 'ap',
        listenPort,
        instances: [server('one', one.port), server('two', two.port)],
      })
      expect(await applier.apply(second)).toMatchObject({
        changed: true,
        reloaded: false,
        commands: ['add server be_demo_ap/two', 'enable server be_demo_ap/two'],
        draining: [],
      })
      const third = renderSite({
        project: 'demo',
        environment: 'ap',
        listenPort,
        instances: [server('two', two.port)],
      })
      expect(await applier.apply(third)).toMatchObject({
        changed: true,
        commands: ['set server be_demo_ap/one state drain'],
        draining: ['one'],
      })
      for (let i = 0; i < 4; i++) expect((await get(listenPort)).body).toBe('two\n')
      expect(await readFile(path.join(haproxy.target.sitesDir, 'demo_ap.cfg'), 'utf8')).toBe(third.text)
      expect(await applier.apply(third)).toMatchObject({ changed: false, commands: [], draining: ['one'] })
      expect(await applier.finishDrain('be_demo_ap', ['one'])).toEqual(['one'])
      expect(await applier.apply(third)).toMatchObject({ changed: false, draining: [] })
      expect((await runtime.servers('be_demo_ap'))?.map((s) => s.name)).toEqual(['two'])
      expect(await runtime.processes()).toMatchObject({
        reloads: afterReload.reloads,
        workers: afterReload.workers,
      })

      await applier.removeSite('demo', 'ap')
      expect((await get(listenPort)).status).toBe(0)
      expect(await readdir(haproxy.target.sitesDir)).toEqual([])
      expect(await runtime.servers('be_demo_ap')).toBeUndefined()
    } finally {
      await one.close()
      await two.close()
    }
  })

  test("a config HAProxy rejects keeps the live file and names HAProxy's alert", async ({ haproxy }) => {
    const applier = new HaproxyApplier({ target: haproxy.target })
    const listenPort = await freePort()
    const good = renderSite({ project: 'demo', environment: 'ok', listenPort, instances: [] })
    await applier.apply(good)
    const bad = renderSite({
      project: 'demo',
      environment: 'bad',
      listenPort: await freePort(),
      instances: [],
    })
    const rejected = await failure(applier.apply({ ...bad, text: `${bad.text}  bogus-directive on\n` }))
    expect(rejected.code).toBe('VALIDATION_FAILED')
    expect(rejected.message).toMatch(
      /^HAProxy rejected the config of demo\/bad: .*unknown keyword 'bogus-directive'/,
    )
    expect(await readdir(haproxy.target.sitesDir)).toEqual(['demo_ok.cfg'])
    expect((await get(listenPort)).status).toBe(503)
  })

  test('a listen port something else holds is refused before any reload', async ({ haproxy }) => {
    const applier = new HaproxyApplier({ target: haproxy.target })
    const runtime = new HaproxyRuntime(haproxy.target)
    const holder = createServer()
    const port = await freePort()
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve))
    try {
      const before = await runtime.processes()
      const refused = await failure(
        applier.apply(renderSite({ project: 'demo', environment: 'taken', listenPort: port, instances: [] })),
      )
      expect(refused).toEqual({
        code: 'VALIDATION_FAILED',
        message: `the listen port of demo/taken, 127.0.0.1:${port}, is taken`,
      })
      expect(await readdir(haproxy.target.sitesDir)).toEqual([])
      expect((await runtime.processes()).reloads).toBe(before.reloads)
    } finally {
      holder.close()
    }
  })

  test('a reload HAProxy cannot finish is reported, the previous file comes back, the old worker serves on', async ({
    haproxy,
  }) => {
    const applier = new HaproxyApplier({ target: haproxy.target })
    const runtime = new HaproxyRuntime(haproxy.target)
    const servingPort = await freePort()
    await applier.apply(
      renderSite({ project: 'demo', environment: 'ok', listenPort: servingPort, instances: [] }),
    )
    // Someone else's file binds a port another process holds: "haproxy -c" cannot know.
    const holder = createServer()
    const held = await freePort()
    await new Promise<void>((resolve) => holder.listen(held, '127.0.0.1', resolve))
    const manual = path.join(haproxy.target.sitesDir, 'manual.cfg')
    await writeFile(manual, `frontend manual\n  bind 127.0.0.1:${held}\n`)
    try {
      const site = renderSite({
        project: 'demo',
        environment: 'new',
        listenPort: await freePort(),
        instances: [],
      })
      const failed = await failure(applier.apply(site))
      expect(failed.code).toBe('DEPENDENCY_UNAVAILABLE')
      expect(failed.message).toMatch(/^HAProxy failed to reload for demo\/new: /)
      expect(await readdir(haproxy.target.sitesDir)).toEqual(['demo_ok.cfg', 'manual.cfg'])
      expect((await get(servingPort)).status).toBe(503)
      expect((await get(site.listenPort)).status).toBe(0)
      await rm(manual)
      expect(await applier.apply(site)).toMatchObject({ reloaded: true })
      expect((await get(site.listenPort)).status).toBe(503)
      expect((await runtime.processes()).failed).toBe(0)
    } finally {
      holder.close()
    }
  })

  test('two appliers sharing a Redis lease (two workers) make one reload for one new site', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const lease = { redis, key: `${redisPrefix}/gateway/lock` }
    const [a, b] = [
      new HaproxyApplier({ target: haproxy.target, lease }),
      new HaproxyApplier({ target: haproxy.target, lease }),
    ]
    const runtime = new HaproxyRuntime(haproxy.target)
    const before = await runtime.processes()
    const site = renderSite({
      project: 'demo',
      environment: 'two',
      listenPort: await freePort(),
      instances: [],
    })
    const results = await Promise.all([a.apply(site), b.apply(site)])
    expect(results.map((result) => result.reloaded).sort()).toEqual([false, true])
    expect((await runtime.processes()).reloads).toBe(before.reloads + 1)
    expect(await redis.exists(lease.key)).toBe(0)
  })
})
