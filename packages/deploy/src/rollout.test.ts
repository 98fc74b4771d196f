import { demoImage, integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { HealthMonitor } from './monitor.ts'
import { rollout } from './rollout.ts'
import {
  countByHost,
  demoApp,
  demoRequest,
  deployHosts,
  failures,
  neverHealthy,
  releasesOn,
  requestsNow,
  siteOn,
  startLoad,
  strategy,
  until,
  versionOf,
  withLeases,
} from './test-support/index.ts'

const hostNames = ['prod-1', 'prod-2', 'prod-3']

describe('rollout on prod-1..3 behind the real gateway', () => {
  test('v1 -> v2 under load: zero failed requests; v3 never healthy: rolled back to v2, zero failed requests', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    const [v1, v2, v3] = await Promise.all([
      demoImage({ ref: 'v1.0.0' }),
      demoImage({ ref: 'v1.1.0' }),
      demoImage({ ref: 'v1.1.0', version: '3.0.0', patch: neverHealthy }),
    ])
    const hosts = deployHosts(hostNames)
    const fixtures = { fleet, redis, redisPrefix, testId }
    const { project, environment, gateway, base } = await withLeases(
      db,
      await siteOn(fixtures, hosts, { ttlSeconds: 15 }),
    )
    const { lines } = base
    const monitor = new HealthMonitor({
      project,
      environment,
      hosts,
      app: demoApp,
      registry: gateway.registry,
      intervalMs: 2000,
    })
    try {
      const first = await rollout(demoRequest(base, { id: 'v1', image: v1.image }, 6))
      expect(first.error).toBeUndefined()
      expect(first.status).toBe('succeeded')
      expect(countByHost(first.instances)).toEqual({ 'prod-1': 2, 'prod-2': 2, 'prod-3': 2 })
      monitor.start()

      // v1 -> v2 under continuous load from a second process.
      const load = startLoad({ port: gateway.port, maxRequests: 3000, maxMs: 60_000 })
      await until('load under way', () => load.done() >= 20)
      // The drain ends when the gateway reports the old instances' requests done; its bound
      // is generous so that a busy machine does not make it run out (a drain that is never
      // reported would still show, as 'may still run after' lines, below).
      const second = await rollout(
        demoRequest(base, { id: 'v2', image: v2.image }, 6, { strategy: strategy({ drainSeconds: 15 }) }),
      )
      const ended = Date.now()
      const samples = await load.stop()
      const after = [...samples.filter((s) => s.start > ended), ...(await requestsNow(gateway.port, 60))]

      expect(second.error).toBeUndefined()
      expect(second.status).toBe('succeeded')
      expect(failures(samples)).toEqual([])
      expect(samples.some((s) => s.end < ended && versionOf(s.body) === '1.0.0')).toBe(true)
      expect(after.length).toBeGreaterThanOrEqual(60)
      expect(after.filter((s) => versionOf(s.body) !== '1.1.0')).toEqual([])
      expect(second.batches.filter((b) => b.phase === 'rollout')).toHaveLength(6)
      // Every old instance drained before the drain period ran out: the gateway reported the
      // requests it had in flight to them done.
      expect(lines.filter((line) => line.includes('may still run after'))).toEqual([])
      expect(lines.filter((line) => line.endsWith('is out of the gateway'))).toHaveLength(6)
      expect(countByHost(second.instances)).toEqual({ 'prod-1': 2, 'prod-2': 2, 'prod-3': 2 })
      for (const host of hosts)
        expect(await releasesOn(host.driver, project, environment)).toEqual(['running:v2', 'running:v2'])

      // v3 never becomes healthy: the first batch fails, the rollout rolls back, v2 serves.
      const load3 = startLoad({ port: gateway.port, maxRequests: 2000, maxMs: 60_000 })
      await until('load under way', () => load3.done() >= 20)
      const third = await rollout(demoRequest(base, { id: 'v3', image: v3.image }, 6))
      const samples3 = [...(await load3.stop()), ...(await requestsNow(gateway.port, 60))]

      expect(third.status).toBe('failed')
      expect(third.error).toEqual({
        code: 'HEALTH_CHECK_FAILED',
        message: 'GET /healthz answered 404 2 times in a row',
      })
      expect(third.rolledBack).toBe(true)
      expect(third.rollbackError).toBeUndefined()
      expect(third.batches.filter((b) => b.phase === 'rollout')).toHaveLength(1)
      expect(failures(samples3)).toEqual([])
      expect(samples3.filter((s) => versionOf(s.body) !== '1.1.0')).toEqual([])
      expect(third.instances.map((i) => i.release)).toEqual(['v2', 'v2', 'v2', 'v2', 'v2', 'v2'])
      for (const host of hosts)
        expect(await releasesOn(host.driver, project, environment)).toEqual(['running:v2', 'running:v2'])
      expect(lines.some((line) => line.startsWith('rollout failed: GET /healthz answered 404'))).toBe(true)

      // The monitor heartbeats what serves: the registry holds exactly the v2 instances.
      const report = await monitor.tick()
      expect(report.failing).toEqual([])
      expect((await gateway.registry.list(project, environment)).map((e) => e.id).sort()).toEqual(
        third.instances.map((i) => i.id).sort(),
      )
    } finally {
      await monitor.stop()
      await gateway.close()
    }
  })
  test('on the host network: v1 -> v2 under load, zero failed requests; old instances are found by their port label', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    const [v1, v2] = await Promise.all([demoImage({ ref: 'v1.0.0' }), demoImage({ ref: 'v1.1.0' })])
    const hosts = deployHosts(hostNames)
    const fixtures = { fleet, redis, redisPrefix, testId }
    const { project, environment, gateway, base } = await withLeases(
      db,
      await siteOn(fixtures, hosts, { ttlSeconds: 15 }),
    )
    const app = { ...demoApp, network: 'host' as const }
    try {
      const first = await rollout(demoRequest(base, { id: 'v1', image: v1.image }, 4, { app }))
      expect(first.error).toBeUndefined()
      expect(first.status).toBe('succeeded')
      // Each instance listens on its own port of the host's network, the one leased for it.
      const ports = first.instances.map((instance) => instance.port)
      expect(new Set(ports).size).toBe(4)
      const leased = async () =>
        (await db.hostPortLease.findMany({ include: { host: true } }))
          .map((lease) => `${lease.host.name}:${lease.port}:${lease.instance}`)
          .sort()
      const leasesOf = (instances: typeof first.instances) =>
        instances.map((i) => `${i.host}:${i.port}:${project}-${environment}-${i.id}`).sort()
      expect(await leased()).toEqual(leasesOf(first.instances))
      for (const instance of first.instances) {
        const host = hosts.find((h) => h.name === instance.host)!
        expect(await host.driver.logs(instance.containerId)).toContainEqual(
          expect.stringContaining(`listening on ${instance.port}`),
        )
      }

      const load = startLoad({ port: gateway.port, maxRequests: 3000, maxMs: 60_000 })
      await until('load under way', () => load.done() >= 20)
      const second = await rollout(demoRequest(base, { id: 'v2', image: v2.image }, 4, { app }))
      const ended = Date.now()
      const samples = await load.stop()
      const after = [...samples.filter((s) => s.start > ended), ...(await requestsNow(gateway.port, 40))]

      expect(second.error).toBeUndefined()
      expect(second.status).toBe('succeeded')
      expect(failures(samples)).toEqual([])
      expect(after.filter((s) => versionOf(s.body) !== '1.1.0')).toEqual([])
      // The v1 containers were found (by their label: Docker reports no port binding on the
      // host network) and removed.
      const running = (await Promise.all(hosts.map((h) => releasesOn(h.driver, project, environment)))).flat()
      expect(running.sort()).toEqual(['running:v2', 'running:v2', 'running:v2', 'running:v2'])
      // Their ports were freed with them: the leases are exactly the v2 instances'.
      expect(await leased()).toEqual(leasesOf(second.instances))
      const none = await rollout(demoRequest(base, { id: 'v2', image: v2.image }, 0, { app }))
      expect(none.status).toBe('succeeded')
      expect(await leased()).toEqual([])
    } finally {
      await gateway.close()
    }
  })
})
