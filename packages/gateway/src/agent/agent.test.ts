import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { freePort } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { HaproxyApplier } from '../haproxy/applier.ts'
import { renderSite } from '../haproxy/render.ts'
import { HaproxyRuntime } from '../haproxy/runtime.ts'
import { get, gatewayTest as test, until, upstream } from '../test-support/fixtures.ts'
import { harness, instance } from '../test-support/harness.ts'
import { createTrafficSwitch } from '../traffic/switch.ts'
import { readAck } from './ack.ts'

const site = (listenPort: number) => ({ project: 'demo', environment: 'pre-release', listenPort })

describe('GatewayAgent on a private HAProxy', () => {
  test('follows the registry through the Runtime API: add, swap, and removing all empties the site', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, haproxy, [site(listenPort)])
    const runtime = new HaproxyRuntime(haproxy.target)
    const [one, two] = [await upstream('one'), await upstream('two')]
    try {
      await h.agent().start()
      expect((await get(listenPort)).status).toBe(503)
      const configured = await runtime.processes()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 60 })
      const signal = AbortSignal.timeout(30_000)
      await traffic.add(instance('one', one.port), signal)
      expect((await get(listenPort)).body).toBe('one\n')
      const ack = await readAck(redis, redisPrefix, 'demo', 'pre-release')
      expect(ack).toMatchObject({
        listenPort,
        failStatic: false,
        instances: [{ id: 'one', host: 'pre-1', address: '127.0.0.1', port: one.port }],
      })

      const change = await traffic.swap([instance('two', two.port)], [instance('one', one.port)], signal)
      for (let i = 0; i < 5; i++) expect((await get(listenPort)).body).toBe('two\n')
      expect(await change.drained(10_000, signal)).toBe(true)
      expect((await runtime.servers('be_demo_pre-release'))?.map((server) => server.name)).toEqual(['two'])
      // The file follows the runtime changes (a reload or restart serves the same).
      const file = await readFile(path.join(haproxy.target.sitesDir, 'demo_pre-release.cfg'), 'utf8')
      expect(file).toContain(`  server two 127.0.0.1:${two.port}\n`)
      expect(file).not.toContain('server one')

      await traffic.remove(instance('two', two.port), signal)
      expect((await get(listenPort)).status).toBe(503)
      expect(await readAck(redis, redisPrefix, 'demo', 'pre-release')).toMatchObject({
        instances: [],
        failStatic: false,
      })
      // Instance changes never reload HAProxy.
      expect(await runtime.processes()).toMatchObject({
        reloads: configured.reloads,
        workers: configured.workers,
      })
    } finally {
      await h.close()
      await one.close()
      await two.close()
    }
  })

  test('drained() is true once the slow request in flight on the removed server ends, not before', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, haproxy, [site(listenPort)])
    const [one, two] = [await upstream('one'), await upstream('two')]
    try {
      await h.agent().start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 60 })
      const signal = AbortSignal.timeout(30_000)
      await traffic.add(instance('one', one.port), signal)
      const slow = get(listenPort, '/slow?ms=2500')
      await until('the slow request on one', async () => one.arrivals.length > 0)
      const change = await traffic.swap([instance('two', two.port)], [instance('one', one.port)], signal)
      expect((await get(listenPort)).body).toBe('two\n')
      expect(await change.drained(500, signal)).toBe(false)
      const drained = await change.drained(10_000, signal)
      const answer = await slow
      expect(answer).toMatchObject({ status: 200, body: 'slow one\n' })
      expect(drained).toBe(true)
      expect(one.arrivals).toHaveLength(1)
      expect(
        (await new HaproxyRuntime(haproxy.target).servers('be_demo_pre-release'))?.map((s) => s.name),
      ).toEqual(['two'])
    } finally {
      await h.close()
      await one.close()
      await two.close()
    }
  })

  test('two agents (two workers) on one HAProxy under one lease: drained() still waits for the slow request', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, haproxy, [site(listenPort)])
    const lease = { redis, key: `${redisPrefix}/gateway/lock` }
    const [one, two, three] = [await upstream('one'), await upstream('two'), await upstream('three')]
    try {
      for (const agentId of ['w1', 'w2'])
        await h.agent({ agentId, applier: new HaproxyApplier({ target: haproxy.target, lease }) }).start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 60 })
      const signal = AbortSignal.timeout(30_000)
      await traffic.add(instance('one', one.port), signal)
      const slow = get(listenPort, '/slow?ms=2500')
      await until('the slow request on one', async () => one.arrivals.length > 0)
      const first = await traffic.swap([instance('two', two.port)], [instance('one', one.port)], signal)
      const second = await traffic.swap([instance('three', three.port)], [instance('two', two.port)], signal)
      expect((await get(listenPort)).body).toBe('three\n')
      expect(await second.drained(800, signal)).toBe(false)
      expect(await first.drained(10_000, signal)).toBe(true)
      expect(await slow).toMatchObject({ status: 200, body: 'slow one\n' })
      expect(await second.drained(10_000, signal)).toBe(true)
      expect(
        (await new HaproxyRuntime(haproxy.target).servers('be_demo_pre-release'))?.map((s) => s.name),
      ).toEqual(['three'])
    } finally {
      await h.close()
      await one.close()
      await two.close()
      await three.close()
    }
  })

  test('fail static: when every heartbeat stops the site keeps serving the last instances', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, haproxy, [site(listenPort)])
    const [one, two] = [await upstream('one'), await upstream('two')]
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
      for (let i = 0; i < 5; i++) expect((await get(listenPort)).body).toBe('one\n')
      expect(h.lines.some((line) => line.level === 40 && line.msg.startsWith('fail static'))).toBe(true)

      // A restarted agent keeps the same baseline.
      await h.close()
      await h.agent().start()
      expect((await get(listenPort)).body).toBe('one\n')
      expect(await readAck(redis, redisPrefix, 'demo', 'pre-release')).toMatchObject({ failStatic: true })

      // A live instance ends fail static; an explicit deregister of it then empties the site.
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 60 })
      await traffic.add(instance('two', two.port), signal)
      expect(await readAck(redis, redisPrefix, 'demo', 'pre-release')).toMatchObject({
        failStatic: false,
        instances: [{ id: 'two' }],
      })
      expect((await get(listenPort)).body).toBe('two\n')
      await traffic.remove(instance('two', two.port), signal)
      expect((await get(listenPort)).status).toBe(503)
    } finally {
      await h.close()
      await one.close()
      await two.close()
    }
  })

  test('a restarted agent converges to what changed while it was away, without a reload', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, haproxy, [site(listenPort)])
    const runtime = new HaproxyRuntime(haproxy.target)
    const [one, two] = [await upstream('one'), await upstream('two')]
    try {
      const first = h.agent()
      await first.start()
      await createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 60 }).add(
        instance('one', one.port),
        AbortSignal.timeout(30_000),
      )
      await first.stop()
      const before = await runtime.processes()
      await h.registry.register(instance('two', two.port), 60)
      await h.registry.deregister(instance('one', one.port))
      // Nobody follows the registry: HAProxy keeps serving what it had.
      expect((await get(listenPort)).body).toBe('one\n')
      const second = h.agent()
      await second.start()
      await until('two served', async () => (await get(listenPort)).body === 'two\n')
      await until('one deleted', async () => second.status()[0]?.draining.length === 0)
      expect((await runtime.servers('be_demo_pre-release'))?.map((server) => server.name)).toEqual(['two'])
      expect(await readAck(redis, redisPrefix, 'demo', 'pre-release')).toMatchObject({
        instances: [{ id: 'two' }],
      })
      // Another restart with nothing changed sends nothing at all.
      await second.stop()
      const commands = () =>
        h.lines.filter((line) => line.msg === 'gateway servers changed through the Runtime API')
      const sent = commands().length
      await h.agent().start()
      expect(commands().length).toBe(sent)
      expect(await runtime.processes()).toMatchObject({ reloads: before.reloads, workers: before.workers })
    } finally {
      await h.close()
      await one.close()
      await two.close()
    }
  })

  test('sites come and go with the callback (config and reload); invalid and clashing ones are ignored', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const [portA, portB] = [await freePort(), await freePort()]
    const h = harness(redis, redisPrefix, haproxy, [
      { project: 'demo', environment: 'a', listenPort: portA },
      { project: 'demo', environment: 'b', listenPort: portA },
      { project: 'Bad_Name', environment: 'c', listenPort: portB },
    ])
    const runtime = new HaproxyRuntime(haproxy.target)
    try {
      const agent = h.agent()
      await agent.start()
      expect(agent.status().map((status) => status.environment)).toEqual(['a'])
      expect((await get(portA)).body).toMatch(/no live instance of demo\/a/)
      expect(await readdir(haproxy.target.sitesDir)).toEqual(['demo_a.cfg'])
      h.sites.splice(0, h.sites.length, { project: 'demo', environment: 'b', listenPort: portB })
      await agent.sync()
      await until('site b', async () => /demo\/b/.test((await get(portB)).body))
      expect((await get(portA)).status).toBe(0)
      expect(await readdir(haproxy.target.sitesDir)).toEqual(['demo_b.cfg'])
      expect(await readAck(redis, redisPrefix, 'demo', 'a')).toBeUndefined()
      expect(await runtime.servers('be_demo_a')).toBeUndefined()

      // A changed listen port is a config change too.
      const portC = await freePort()
      h.sites.splice(0, 1, { project: 'demo', environment: 'b', listenPort: portC })
      await agent.sync()
      await until('site b on its new port', async () => /demo\/b/.test((await get(portC)).body))
      expect((await get(portB)).status).toBe(0)
      await until(
        'the ack of the new port',
        async () => (await readAck(redis, redisPrefix, 'demo', 'b'))?.listenPort === portC,
      )
    } finally {
      await h.close()
    }
  })

  test('a site left in HAProxy from before (removed while no agent ran) goes; files not ours stay', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const [kept, gone] = [await freePort(), await freePort()]
    const applier = new HaproxyApplier({ target: haproxy.target })
    await applier.apply(renderSite({ project: 'demo', environment: 'gone', listenPort: gone, instances: [] }))
    await writeFile(path.join(haproxy.target.sitesDir, 'manual.cfg'), '# not Slipway\n')
    const h = harness(redis, redisPrefix, haproxy, [
      { project: 'demo', environment: 'kept', listenPort: kept },
    ])
    try {
      await h.agent().start()
      expect((await get(gone)).status).toBe(0)
      expect((await get(kept)).status).toBe(503)
      expect((await readdir(haproxy.target.sitesDir)).sort()).toEqual(['demo_kept.cfg', 'manual.cfg'])
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
