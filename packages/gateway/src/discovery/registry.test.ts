import type { Instance } from '@slipway/contracts'
import { isAppError } from '@slipway/core'
import { integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { sleep } from '../support/bounded.ts'
import { until } from '../test-support/fixtures.ts'
import { DiscoveryRegistry, type SiteSnapshot } from './registry.ts'

function instance(id: string, port: number, change: Partial<Instance> = {}): Instance {
  return {
    id,
    project: 'demo',
    environment: 'pre-release',
    release: 'r1',
    image: '127.0.0.1:5001/demo@sha256:abc',
    host: 'pre-1',
    address: '10.222.42.3',
    port,
    containerId: `c-${id}`,
    ...change,
  }
}

describe('DiscoveryRegistry on real Redis', () => {
  test('register, list and deregister with the article 001 key scheme', async ({ redis, redisPrefix }) => {
    const registry = new DiscoveryRegistry({ redis, prefix: redisPrefix })
    await registry.register(instance('b', 32001), 30)
    await registry.register(instance('a', 32000), 30)
    const keys = (await redis.keys(`${redisPrefix}/*`)).sort()
    expect(keys).toEqual([
      `${redisPrefix}/demo_pre-release`,
      `${redisPrefix}/demo_pre-release/pre-1-32000`,
      `${redisPrefix}/demo_pre-release/pre-1-32001`,
    ])
    const ttl = await redis.ttl(`${redisPrefix}/demo_pre-release/pre-1-32000`)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(30)
    const listed = await registry.list('demo', 'pre-release')
    expect(listed.map((entry) => entry.id)).toEqual(['a', 'b'])
    expect(listed[0]).toMatchObject({ ...instance('a', 32000) })
    expect(listed[0]?.ttlSeconds).toBeGreaterThan(0)
    expect(Date.parse(listed[0]?.registeredAt ?? '')).not.toBeNaN()

    expect(await registry.deregister(instance('a', 32000))).toBe(true)
    expect(await registry.deregister(instance('a', 32000))).toBe(false)
    expect((await registry.list('demo', 'pre-release')).map((entry) => entry.id)).toEqual(['b'])
    expect(await registry.snapshot('demo', 'pre-release')).toMatchObject({ expired: [] })
    expect(await registry.list('demo', 'production')).toEqual([])
  })

  test('swap registers and deregisters in one transaction; a watcher never sees half of it', async ({
    redis,
    redisPrefix,
  }) => {
    const registry = new DiscoveryRegistry({ redis, prefix: redisPrefix })
    const [a, b, c, d] = [
      instance('a', 32000),
      instance('b', 32001),
      instance('c', 32002),
      instance('d', 32003),
    ]
    await registry.swap([a, b], [], 30)
    const seen: string[][] = []
    const watch = await registry.watch('demo', 'pre-release', (snapshot) =>
      seen.push(snapshot.entries.map((entry) => entry.id)),
    )
    try {
      await registry.swap([c, d], [a, b], 30)
      await until('the swap to be seen', async () => seen.at(-1)?.join() === 'c,d')
      expect(seen.filter((ids) => ids.join() !== 'a,b' && ids.join() !== 'c,d')).toEqual([])
    } finally {
      await watch.close()
    }
    // One swap is one site: a mixed one is refused and changes nothing.
    const elsewhere = instance('e', 32004, { environment: 'production' })
    const refused = await registry.swap([elsewhere], [c], 30).catch((error: unknown) => error)
    expect(isAppError(refused) && refused.code).toBe('VALIDATION_FAILED')
    expect((await registry.list('demo', 'pre-release')).map((entry) => entry.id)).toEqual(['c', 'd'])
    expect(await registry.list('demo', 'production')).toEqual([])
  })

  test('an entry expires without heartbeats and is then reported as expired', async ({
    redis,
    redisPrefix,
  }) => {
    const registry = new DiscoveryRegistry({ redis, prefix: redisPrefix })
    await registry.register(instance('a', 32000), 1)
    await registry.register(instance('b', 32001), 60)
    await until('the entry to expire', async () => (await registry.list('demo', 'pre-release')).length === 1)
    const snapshot = await registry.snapshot('demo', 'pre-release')
    expect(snapshot.entries.map((entry) => entry.id)).toEqual(['b'])
    expect(snapshot.expired).toEqual(['pre-1-32000'])
    expect(await registry.heartbeat(instance('a', 32000))).toBe(false)
    expect(await registry.list('demo', 'pre-release')).toHaveLength(1)
    // A deregister after expiry forgets the member: it was taken out on purpose.
    expect(await registry.deregister(instance('a', 32000))).toBe(true)
    expect((await registry.snapshot('demo', 'pre-release')).expired).toEqual([])
  })

  test('heartbeats keep an entry alive past its TTL', async ({ redis, redisPrefix }) => {
    const registry = new DiscoveryRegistry({ redis, prefix: redisPrefix })
    const a = instance('a', 32000)
    await registry.register(a, 2)
    const before = (await registry.list('demo', 'pre-release'))[0]
    for (let i = 0; i < 16; i++) {
      await sleep(250)
      expect(await registry.heartbeat(a)).toBe(true)
    }
    const after = await registry.list('demo', 'pre-release')
    expect(after.map((entry) => entry.id)).toEqual(['a'])
    expect(after[0]?.registeredAt).toBe(before?.registeredAt)
    expect(Date.parse(after[0]?.lastHeartbeatAt ?? '')).toBeGreaterThan(
      Date.parse(before?.lastHeartbeatAt ?? ''),
    )
  })

  test('a heartbeat of an old instance does not refresh the one now on its port', async ({
    redis,
    redisPrefix,
  }) => {
    const registry = new DiscoveryRegistry({ redis, prefix: redisPrefix })
    await registry.register(instance('new', 32000), 30)
    expect(await registry.heartbeat(instance('old', 32000))).toBe(false)
    expect(await registry.deregister(instance('old', 32000))).toBe(false)
    expect((await registry.list('demo', 'pre-release')).map((entry) => entry.id)).toEqual(['new'])
  })

  test('prefixes isolate registries', async ({ redis, redisPrefix }) => {
    const one = new DiscoveryRegistry({ redis, prefix: `${redisPrefix}-one` })
    const two = new DiscoveryRegistry({ redis, prefix: `${redisPrefix}-two` })
    await one.register(instance('a', 32000), 30)
    expect(await two.list('demo', 'pre-release')).toEqual([])
    expect(await two.deregister(instance('a', 32000))).toBe(false)
    expect(await one.list('demo', 'pre-release')).toHaveLength(1)
  })

  test('rejects invalid instances and TTLs without writing anything', async ({ redis, redisPrefix }) => {
    const registry = new DiscoveryRegistry({ redis, prefix: redisPrefix })
    const bad: [Instance, number][] = [
      [instance('a', 32000, { project: 'Demo' }), 30],
      [instance('a', 32000, { environment: 'pre_release' }), 30],
      [instance('a', 32000, { host: 'pre 1' }), 30],
      [instance('a', 32000, { address: 'pre-1.lan' }), 30],
      [instance('a b', 32000), 30],
      [instance('a', 0), 30],
      [instance('a', 32000), 0],
    ]
    for (const [value, ttl] of bad) {
      const error = await registry.register(value, ttl).catch((caught: unknown) => caught)
      expect(isAppError(error) && error.code).toBe('VALIDATION_FAILED')
    }
    expect(await redis.keys(`${redisPrefix}*`)).toEqual([])
  })

  test('watch reports registrations, deregistrations and expiries', async ({ redis, redisPrefix }) => {
    const registry = new DiscoveryRegistry({ redis, prefix: redisPrefix })
    const seen: SiteSnapshot[] = []
    const ids = () => seen.map((snapshot) => snapshot.entries.map((entry) => entry.id).join(','))
    const watch = await registry.watch('demo', 'pre-release', (snapshot) => seen.push(snapshot), {
      resyncMs: 200,
    })
    try {
      expect(ids()).toEqual([''])
      await registry.register(instance('a', 32000), 60)
      await until('the registration', async () => ids().at(-1) === 'a')
      await registry.register(instance('b', 32001), 1)
      await until('the second registration', async () => ids().at(-1) === 'a,b')
      await until('the expiry', async () => ids().at(-1) === 'a')
      expect(seen.at(-1)?.expired).toEqual(['pre-1-32001'])
      await registry.deregister(instance('a', 32000))
      await until('the deregistration', async () => ids().at(-1) === '')
      const count = seen.length
      await sleep(600)
      expect(seen).toHaveLength(count)
    } finally {
      await watch.close()
      registry.close()
    }
  })
})
