import { demoImage, integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { HealthMonitor } from './monitor.ts'
import { reconcile } from './reconcile.ts'
import { rollout } from './rollout.ts'
import {
  countByHost,
  demoApp,
  demoRequest,
  deployHosts,
  failures,
  requestsNow,
  type Sample,
  siteOn,
  startLoad,
  strategy,
  until,
  versionOf,
  withLeases,
} from './test-support/index.ts'
import type { RolloutRequest, RolloutResult } from './types.ts'

const hostNames = ['prod-1', 'prod-2', 'prod-3']

/** The GREETING a demo response names (the release's config). */
const greetingOf = (body: string) => /GREETING=(\S*)/.exec(body)?.[1]

/**
 * Every operation an environment goes through, each under load from 8 clients that keep
 * their connections alive through the gateway (as browsers and pooled service clients do),
 * across hosts that are separate machines on the fleet LAN: not one request may fail, and
 * once an operation returns no response comes from what it replaced.
 */
describe('operations under kept-alive load through the gateway', () => {
  test('rollout, redeploy after a config change, scale 3 -> 12 -> 3, rollback, a killed instance: 0 failed requests', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    const [v1, v2] = await Promise.all([demoImage({ ref: 'v1.0.0' }), demoImage({ ref: 'v1.1.0' })])
    const hosts = deployHosts(hostNames)
    const { project, environment, gateway, base } = await withLeases(
      db,
      await siteOn({ fleet, redis, redisPrefix, testId }, hosts, { ttlSeconds: 20 }),
    )
    const monitor = new HealthMonitor({
      project,
      environment,
      hosts,
      app: demoApp,
      registry: gateway.registry,
      intervalMs: 2000,
    })
    /** Runs `operation` under kept-alive load; returns its result, the samples and the requests after it. */
    const underLoad = async <T extends RolloutResult>(operation: () => Promise<T>) => {
      const load = startLoad({ port: gateway.port, maxRequests: 4000, maxMs: 120_000 })
      await until('load under way', () => load.done() >= 20)
      const result = await operation()
      const ended = Date.now()
      const samples = await load.stop()
      const after: Sample[] = [
        ...samples.filter((s) => s.start > ended),
        ...(await requestsNow(gateway.port, 40)),
      ]
      expect(result.error).toBeUndefined()
      expect(result.status).toBe('succeeded')
      return { result, samples, after }
    }
    const request = (
      release: { id: string; image: string },
      replicas: number,
      change: Partial<RolloutRequest> = {},
    ) => demoRequest(base, release, replicas, { strategy: strategy({ drainSeconds: 10 }), ...change })
    try {
      const first = await rollout(request({ id: 'r1', image: v1.image }, 3))
      expect(first.status).toBe('succeeded')
      // Every instance is reached at its host's own address, not this machine's loopback.
      const addresses = Object.fromEntries(hosts.map((h) => [h.name, h.address]))
      for (const instance of first.instances) expect(instance.address).toBe(addresses[instance.host])
      monitor.start()

      // A rollout to the next version.
      const rolled = await underLoad(() => rollout(request({ id: 'r2', image: v2.image }, 3)))
      expect(failures(rolled.samples)).toEqual([])
      expect(rolled.after.filter((s) => versionOf(s.body) !== '1.1.0')).toEqual([])

      // A redeploy after a config change: the same image, a new release with new config.
      const redeployed = await underLoad(() =>
        rollout(request({ id: 'r3', image: v2.image }, 3, { env: { GREETING: 'hello-r3' } })),
      )
      expect(failures(redeployed.samples)).toEqual([])
      expect(redeployed.after.filter((s) => greetingOf(s.body) !== 'hello-r3')).toEqual([])

      // Scale 3 -> 12 -> 3 (the same release: only the difference starts or stops).
      const config = { env: { GREETING: 'hello-r3' } }
      const up = await underLoad(() => rollout(request({ id: 'r3', image: v2.image }, 12, config)))
      expect(failures(up.samples)).toEqual([])
      expect(countByHost(up.result.instances)).toEqual({ 'prod-1': 4, 'prod-2': 4, 'prod-3': 4 })
      const down = await underLoad(() => rollout(request({ id: 'r3', image: v2.image }, 3, config)))
      expect(failures(down.samples)).toEqual([])
      expect(down.result.instances).toHaveLength(3)
      const kept = new Set(down.result.instances.map((i) => i.id))
      expect(up.result.instances.filter((i) => kept.has(i.id))).toHaveLength(3)

      // A rollback to the first version (a new release with the old image by digest).
      const back = await underLoad(() => rollout(request({ id: 'r4', image: v1.image }, 3)))
      expect(failures(back.samples)).toEqual([])
      expect(back.after.filter((s) => versionOf(s.body) !== '1.0.0')).toEqual([])

      // An instance killed under the gateway: the monitor takes it out, reconcile replaces it.
      const victim = back.result.instances.find((i) => i.host === 'prod-2')
      if (!victim) throw new Error('no instance on prod-2')
      const healed = await underLoad(async () => {
        await hosts[1]?.driver.remove(victim.containerId)
        await until(
          'the monitor takes the killed instance out',
          async () => !(await gateway.registry.list(project, environment)).some((e) => e.id === victim.id),
          30_000,
        )
        return reconcile(request({ id: 'r4', image: v1.image }, 3))
      })
      expect(healed.result.changed).toBe(true)
      expect(countByHost(healed.result.instances)).toEqual({ 'prod-1': 1, 'prod-2': 1, 'prod-3': 1 })
      // A request that reached the dead container before the gateway knew is retried on
      // another server (conn-failure retries): none fails.
      expect(failures(healed.samples)).toEqual([])
      expect(healed.after.filter((s) => versionOf(s.body) !== '1.0.0')).toEqual([])
    } finally {
      await monitor.stop()
      await gateway.close()
    }
  })
})
