import https from 'node:https'
import { DockerodeHost } from '@slipway/docker'
import { demoImage, type Fleet, fleetHost, integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { instanceLabels } from './labels.ts'
import { HealthMonitor } from './monitor.ts'
import { pruneImages } from './prune.ts'
import { reconcile } from './reconcile.ts'
import { rollout } from './rollout.ts'
import {
  countByHost,
  type DemoRequestOptions,
  demoApp,
  demoRequest,
  deployHosts,
  releasesOn,
  siteOn,
  strategy,
  withLeases,
} from './test-support/index.ts'

const hostNames = ['prod-1', 'prod-2', 'prod-3']

/** Deletes a manifest from the fleet's registry: hosts that lack the image can no longer pull it. */
async function deleteFromRegistry(fleet: Fleet, image: string): Promise<void> {
  const [name, digest] = image.slice(fleet.registry.url.length + 1).split('@') as [string, string]
  const auth = Buffer.from(`${fleet.registry.username}:${fleet.registry.password}`).toString('base64')
  // The registry speaks TLS with a certificate of the fleet's CA.
  const status = await new Promise<number>((resolve, reject) => {
    const request = https.request(
      `https://${fleet.registry.url}/v2/${name}/manifests/${digest}`,
      {
        method: 'DELETE',
        headers: { authorization: `Basic ${auth}` },
        ca: fleet.tls.ca,
        signal: AbortSignal.timeout(10_000),
      },
      (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      },
    )
    request.once('error', reject)
    request.end()
  })
  expect(status).toBe(202)
}

async function containerIds(options: DemoRequestOptions): Promise<string[]> {
  const all = await Promise.all(
    options.hosts
      .filter((h) => !h.name.startsWith('gone-'))
      .map((h) =>
        h.driver.list({ 'slipway.project': options.project, 'slipway.environment': options.environment }),
      ),
  )
  return all
    .flat()
    .map((c) => c.id)
    .sort()
}

describe('operations on prod-1..3', () => {
  test('a failed pull stops the rollout before any container is touched; skip-host leaves that host out', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    // `partial`: a release only prod-1 and prod-2 have: it is gone from the registry when prod-3 pulls.
    const [v1, partial] = await Promise.all([
      demoImage({ ref: 'v1.0.0' }),
      demoImage({ ref: 'v1.1.0', version: `2.0.0-${testId}` }),
    ])
    const { project, gateway, base } = await withLeases(
      db,
      await siteOn({ fleet, redis, redisPrefix, testId }, deployHosts(hostNames)),
    )
    const auth = base.registryAuth
    try {
      expect((await rollout(demoRequest(base, { id: 'v1', image: v1.image }, 3))).status).toBe('succeeded')
      const before = await containerIds(base)
      await Promise.all(
        ['prod-1', 'prod-2'].map((name) =>
          new DockerodeHost(name, fleetHost(name)).pull(partial.image, auth),
        ),
      )
      await deleteFromRegistry(fleet, partial.image)
      const release = { id: 'v2', image: partial.image }

      const aborted = await rollout(demoRequest(base, release, 3))
      expect(aborted.status).toBe('failed')
      expect(aborted.error?.host).toBe('prod-3')
      expect(aborted.error?.code).toBe('PULL_FAILED')
      expect(aborted.error?.message).toMatch(/prod-3.*manifest unknown/)
      expect(aborted.batches).toEqual([])
      expect(aborted.rolledBack).toBe(false)
      expect(await containerIds(base)).toEqual(before)

      const skipped = await rollout(
        demoRequest(base, release, 3, { strategy: strategy({ onPullFailure: 'skip-host' }) }),
      )
      expect(skipped.error).toBeUndefined()
      expect(skipped.status).toBe('succeeded')
      expect(skipped.hosts.find((h) => h.host === 'prod-3')?.skipped).toMatch(/manifest unknown/)
      expect(countByHost(skipped.instances)).toEqual({ 'prod-1': 2, 'prod-2': 1 })
      expect(skipped.instances.every((i) => i.release === 'v2')).toBe(true)
      expect(await releasesOn(base.hosts[2]?.driver as DockerodeHost, project, 'production')).toEqual([])
      const served = (await gateway.registry.list(project, 'production')).map((e) => e.id).sort()
      expect(served).toEqual(skipped.instances.map((i) => i.id).sort())

      // Scaling to zero is the same call: every container leaves, and so can the image.
      const none = await rollout(demoRequest(base, release, 0))
      expect(none.status).toBe('succeeded')
      expect(await containerIds(base)).toEqual([])
      for (const host of base.hosts.slice(0, 2)) await host.driver.removeImage(partial.image)
    } finally {
      await gateway.close()
    }
  })

  test('a host down at the start: abort fails naming it before touching anything; skip-host goes on', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    const v1 = await demoImage({ ref: 'v1.0.0' })
    // A host whose daemon is not there: its socket does not exist.
    const gone = {
      name: 'gone-1',
      // TEST-NET-1: never dialed (the daemon does not answer first).
      address: '192.0.2.1',
      driver: new DockerodeHost('gone-1', { endpoint: `unix:///tmp/swx-${testId}/docker.sock` }),
    }
    const { gateway, base } = await withLeases(
      db,
      await siteOn({ fleet, redis, redisPrefix, testId }, [...deployHosts(['prod-1', 'prod-2']), gone]),
    )
    try {
      const release = { id: 'v1', image: v1.image }
      const aborted = await rollout(demoRequest(base, release, 3))
      expect(aborted.status).toBe('failed')
      expect(aborted.error).toMatchObject({ code: 'HOST_UNREACHABLE', host: 'gone-1' })
      expect(aborted.batches).toEqual([])
      expect(await containerIds(base)).toEqual([])

      const skipped = await rollout(
        demoRequest(base, release, 3, { strategy: strategy({ onPullFailure: 'skip-host' }) }),
      )
      expect(skipped.status).toBe('succeeded')
      expect(skipped.hosts.find((h) => h.host === 'gone-1')?.skipped).toMatch(/gone-1 is unreachable/)
      expect(countByHost(skipped.instances)).toEqual({ 'prod-1': 2, 'prod-2': 1 })
    } finally {
      await gateway.close()
    }
  })

  test('reconcile replaces a killed container, removes a stray release and puts the site back in the gateway', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    const v1 = await demoImage({ ref: 'v1.0.0' })
    const hosts = deployHosts(hostNames)
    const { project, gateway, base } = await withLeases(
      db,
      await siteOn({ fleet, redis, redisPrefix, testId }, hosts),
    )
    const monitor = new HealthMonitor({
      project,
      environment: 'production',
      hosts,
      app: demoApp,
      registry: gateway.registry,
    })
    try {
      const release = { id: 'v1', image: v1.image }
      const first = await rollout(demoRequest(base, release, 3))
      expect(first.status).toBe('succeeded')
      const inSync = await reconcile(demoRequest(base, release, 3))
      expect(inSync.changed).toBe(false)

      const victim = first.instances.find((i) => i.host === 'prod-2')
      if (!victim) throw new Error('no instance on prod-2')
      await hosts[1]?.driver.stop(victim.containerId, 0)
      // A stray of another release (e.g. left by a crashed worker), labelled as the site's.
      const stray = await hosts[2]?.driver.run({
        name: `${project}-production-stray`,
        image: v1.image,
        labels: {
          'slipway.test': testId,
          ...instanceLabels({
            id: 'stray',
            project,
            environment: 'production',
            release: 'v0',
            image: v1.image,
          }),
        },
        containerPort: 8080,
      })
      // The monitor notices and takes it out of the gateway after `retries` failed probes.
      for (let tick = 0; tick < demoApp.healthCheck.retries; tick++) await monitor.tick()
      expect((await gateway.registry.list(project, 'production')).map((e) => e.id)).not.toContain(victim.id)

      const healed = await reconcile(demoRequest(base, release, 3))
      expect(healed.status).toBe('succeeded')
      expect(healed.changed).toBe(true)
      expect(countByHost(healed.instances)).toEqual({ 'prod-1': 1, 'prod-2': 1, 'prod-3': 1 })
      expect(healed.instances.map((i) => i.id)).not.toContain(victim.id)
      expect(healed.instances.every((i) => i.release === 'v1')).toBe(true)
      expect(await hosts[1]?.driver.inspect(victim.containerId)).toBeUndefined()
      expect(await hosts[2]?.driver.inspect(stray?.id ?? '')).toBeUndefined()
      for (const host of hosts)
        expect(await releasesOn(host.driver, project, 'production')).toEqual(['running:v1'])
      const served = (await gateway.registry.list(project, 'production')).map((e) => e.id).sort()
      expect(served).toEqual(healed.instances.map((i) => i.id).sort())
    } finally {
      await gateway.close()
    }
  })

  for (const network of ['bridge', 'host'] as const) {
    test(`reconcile takes a stopped container out of the gateway at once, not only the monitor (${network} network)`, async ({
      fleet,
      redis,
      redisPrefix,
      db,
      testId,
    }) => {
      const v1 = await demoImage({ ref: 'v1.0.0' })
      const { project, gateway, base } = await withLeases(
        db,
        await siteOn({ fleet, redis, redisPrefix, testId }, deployHosts(hostNames)),
      )
      const app = { ...demoApp, network }
      const served = async () => (await gateway.registry.list(project, 'production')).map((e) => e.id).sort()
      try {
        const release = { id: 'v1', image: v1.image }
        const first = await rollout(demoRequest(base, release, 3, { app }))
        expect(first.status).toBe('succeeded')
        const victim = first.instances.find((i) => i.host === 'prod-2')
        if (!victim) throw new Error('no instance on prod-2')
        await base.hosts[1]?.driver.stop(victim.containerId, 0)
        // No health monitor runs here: the dead instance is still registered.
        expect(await served()).toContain(victim.id)

        // A lease whose container is long gone (a worker died between removing it and freeing
        // the port), and one just taken for a start under way: only the first is freed.
        const prod3 = await db.host.findUniqueOrThrow({ where: { name: 'prod-3' } })
        await db.hostPortLease.createMany({
          data: [
            {
              hostId: prod3.id,
              port: 40_001,
              instance: 'gone-container',
              createdAt: new Date(Date.now() - 3600_000),
            },
            { hostId: prod3.id, port: 40_002, instance: 'starting-container' },
          ],
        })

        const healed = await reconcile(demoRequest(base, release, 3, { app }))
        expect(healed.status).toBe('succeeded')
        expect(await served()).toEqual(healed.instances.map((i) => i.id).sort())
        expect(await served()).not.toContain(victim.id)
        expect(base.lines).toContain(`${victim.id} on prod-2: container stopped, out of the gateway`)
        expect(await base.hosts[1]?.driver.inspect(victim.containerId)).toBeUndefined()
        expect(healed.freedPorts).toEqual([{ host: 'prod-3', port: 40_001, instance: 'gone-container' }])
        // Host network: the leases are the running instances' (the victim's went with its container).
        const leases = await db.hostPortLease.findMany({ include: { host: true } })
        const expected =
          network === 'host'
            ? healed.instances.map((i) => `${i.host}:${i.port}:${project}-production-${i.id}`)
            : []
        expect(
          leases
            .filter((lease) => lease.instance !== 'starting-container')
            .map((lease) => `${lease.host.name}:${lease.port}:${lease.instance}`)
            .sort(),
        ).toEqual(expected.sort())
      } finally {
        await gateway.close()
      }
    })
  }

  test('prune removes images of releases not kept, never one a container uses', async ({ fleet, testId }) => {
    const build = (version: string) => demoImage({ ref: 'v1.0.0', version: `${version}-${testId}` })
    const [old, used, kept] = await Promise.all([build('0.9.0'), build('0.9.1'), build('0.9.2')])
    const host = new DockerodeHost('pre-1', fleetHost('pre-1'))
    const auth = { serveraddress: fleet.registry.url, ...fleet.registry }
    await Promise.all([old, used, kept].map((image) => host.pull(image.image, auth)))
    const container = await host.run({
      name: `prune-${testId}`,
      image: used.image,
      labels: { 'slipway.test': testId },
      containerPort: 8080,
    })
    const result = await pruneImages({
      hosts: [{ name: 'pre-1', address: fleetHost('pre-1').address, driver: host }],
      images: [old.image, used.image, kept.image],
      keep: [kept.image],
      signal: AbortSignal.timeout(60_000),
    })
    expect(result.errors).toEqual([])
    expect(result.removed).toEqual([{ host: 'pre-1', image: old.image }])
    expect(result.inUse).toEqual([{ host: 'pre-1', image: used.image }])
    expect(await host.hasImage(old.image)).toBe(false)
    expect(await host.hasImage(used.image)).toBe(true)
    expect(await host.hasImage(kept.image)).toBe(true)
    await host.remove(container.id)
    await host.removeImage(kept.image)
    await host.removeImage(used.image)
  })
})
