import { readdir } from 'node:fs/promises'
import { freePort } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { probeConfig } from '../nginx/probe.ts'
import { get, namedServer, gatewayTest as test, until } from '../test-support/fixtures.ts'
import { harness, instance } from '../test-support/harness.ts'
import { createTrafficSwitch } from '../traffic/switch.ts'
import { readAck } from './ack.ts'

describe('GatewayAgent on a private nginx', () => {
  test('follows the registry: add, switch, and an explicit removal of all empties the site', async ({
    nginx,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, nginx, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    const [one, two] = [await namedServer('one'), await namedServer('two')]
    try {
      await h.agent().start()
      const empty = await until(
        'the empty site',
        async () => (await get(listenPort)).status === 503 || undefined,
      )
      expect(empty).toBe(true)
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 60 })
      const signal = AbortSignal.timeout(30_000)
      await traffic.add(instance('one', one.port), signal)
      expect(await get(listenPort)).toEqual({ status: 200, body: 'one\n' })
      const ack = await readAck(redis, redisPrefix, 'demo', 'pre-release')
      expect(ack).toMatchObject({
        listenPort,
        failStatic: false,
        instances: [{ id: 'one', host: 'pre-1', port: one.port }],
      })
      expect((await probeConfig(listenPort))?.version).toBe(ack?.version)

      await traffic.add(instance('two', two.port), signal)
      await traffic.remove(instance('one', one.port), signal)
      for (let i = 0; i < 5; i++) expect(await get(listenPort)).toEqual({ status: 200, body: 'two\n' })

      await traffic.remove(instance('two', two.port), signal)
      expect((await get(listenPort)).status).toBe(503)
      expect(await readAck(redis, redisPrefix, 'demo', 'pre-release')).toMatchObject({
        instances: [],
        failStatic: false,
      })
    } finally {
      await h.close()
      await one.close()
      await two.close()
    }
  })

  test('fail static: when every heartbeat stops the site keeps serving the last instances', async ({
    nginx,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, nginx, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    const [one, two] = [await namedServer('one'), await namedServer('two')]
    try {
      await h.agent().start()
      const signal = AbortSignal.timeout(30_000)
      // Registrations of one second and no heartbeat: the health monitor is "down".
      await createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 1 }).add(
        instance('one', one.port),
        signal,
      )
      await until(
        'fail static',
        async () => (await readAck(redis, redisPrefix, 'demo', 'pre-release'))?.failStatic,
      )
      expect(await h.registry.list('demo', 'pre-release')).toEqual([])
      for (let i = 0; i < 5; i++) expect(await get(listenPort)).toEqual({ status: 200, body: 'one\n' })
      expect(h.lines.some((line) => line.level === 40 && line.msg.startsWith('fail static'))).toBe(true)

      // A restarted agent keeps the same baseline.
      await h.close()
      await h.agent().start()
      expect(await get(listenPort)).toEqual({ status: 200, body: 'one\n' })
      expect(await readAck(redis, redisPrefix, 'demo', 'pre-release')).toMatchObject({ failStatic: true })

      // A live instance ends fail static; an explicit deregister of it then empties the site.
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 60 })
      await traffic.add(instance('two', two.port), signal)
      expect(await readAck(redis, redisPrefix, 'demo', 'pre-release')).toMatchObject({
        failStatic: false,
        instances: [{ id: 'two' }],
      })
      expect(await get(listenPort)).toEqual({ status: 200, body: 'two\n' })
      await traffic.remove(instance('two', two.port), signal)
      expect((await get(listenPort)).status).toBe(503)
    } finally {
      await h.close()
      await one.close()
      await two.close()
    }
  })

  test('a restarted agent resyncs to what changed while it was away', async ({
    nginx,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, nginx, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    const [one, two] = [await namedServer('one'), await namedServer('two')]
    try {
      const first = h.agent()
      await first.start()
      await createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 60 }).add(
        instance('one', one.port),
        AbortSignal.timeout(30_000),
      )
      await first.stop()
      await h.registry.register(instance('two', two.port), 60)
      await h.registry.deregister(instance('one', one.port))
      // Nobody follows the registry: nginx keeps serving what it had.
      expect(await get(listenPort)).toEqual({ status: 200, body: 'one\n' })
      await h.agent().start()
      expect(await get(listenPort)).toEqual({ status: 200, body: 'two\n' })
      expect(await readAck(redis, redisPrefix, 'demo', 'pre-release')).toMatchObject({
        instances: [{ id: 'two' }],
      })
    } finally {
      await h.close()
      await one.close()
      await two.close()
    }
  })

  test('sites come and go with the callback; invalid and clashing ones are ignored', async ({
    nginx,
    redis,
    redisPrefix,
  }) => {
    const [portA, portB] = [await freePort(), await freePort()]
    const h = harness(redis, redisPrefix, nginx, [
      { project: 'demo', environment: 'a', listenPort: portA },
      { project: 'demo', environment: 'b', listenPort: portA },
      { project: 'Bad_Name', environment: 'c', listenPort: portB },
    ])
    try {
      const agent = h.agent()
      await agent.start()
      expect(agent.status().map((site) => site.environment)).toEqual(['a'])
      expect((await probeConfig(portA))?.site).toBe('demo/a')
      expect(await readdir(nginx.target.sitesDir)).toEqual(['demo_a.conf'])
      h.sites.splice(0, h.sites.length, { project: 'demo', environment: 'b', listenPort: portB })
      await agent.sync()
      await until('site b', async () => (await probeConfig(portB))?.site === 'demo/b')
      expect(await probeConfig(portA)).toBeUndefined()
      expect(await readdir(nginx.target.sitesDir)).toEqual(['demo_b.conf'])
      expect(await readAck(redis, redisPrefix, 'demo', 'a')).toBeUndefined()
    } finally {
      await h.close()
    }
  })

  test('add fails with a clear error when no agent serves the site, and leaves no registration', async ({
    redis,
    redisPrefix,
  }) => {
    const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, timeoutMs: 500 })
    const error = await traffic
      .add(instance('one', 1), AbortSignal.timeout(10_000))
      .catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'TIMEOUT' })
    expect((error as Error).message).toMatch(
      /gateway of demo\/pre-release did not route to instance one .*no gateway agent/,
    )
    expect(await redis.keys(`${redisPrefix}/demo_pre-release/*`)).toEqual([])
    const canceled = await traffic
      .add(instance('one', 1), AbortSignal.abort())
      .catch((caught: unknown) => caught)
    expect(canceled).toMatchObject({ code: 'CANCELED' })
  })
})
