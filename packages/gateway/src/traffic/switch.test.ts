import http from 'node:http'
import { freePort } from '@slipway/testing'
import { type Sample, startLoad } from '@slipway/testing/services'
import { describe, expect } from 'vitest'
import { HaproxyRuntime } from '../haproxy/runtime.ts'
import { sleep } from '../support/bounded.ts'
import { get, gatewayTest as test, type Upstream, until, upstream } from '../test-support/fixtures.ts'
import { harness, instance } from '../test-support/harness.ts'
import { createTrafficSwitch } from './switch.ts'

const now = () => performance.timeOrigin + performance.now()

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

const figure = (values: number[]) =>
  `p50 ${percentile(values, 50).toFixed(0)} ms, p95 ${percentile(values, 95).toFixed(0)} ms, max ${Math.max(...values).toFixed(0)} ms`

function rate(samples: Sample[]): string {
  const seconds = (Math.max(...samples.map((s) => s.end)) - Math.min(...samples.map((s) => s.start))) / 1000
  return `${samples.length} requests in ${seconds.toFixed(1)} s (${(samples.length / seconds).toFixed(0)} req/s)`
}

/** One GET on the given agent's kept-alive connections. */
function getOn(agent: http.Agent, port: number): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 10_000 }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        body += chunk
      })
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body, reused: request.reusedSocket }),
      )
    })
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', (error) => resolve({ status: 0, body: error.message, reused: request.reusedSocket }))
  })
}

describe('TrafficSwitch + agent + HAProxy under kept-alive load', () => {
  test('20 swaps under 8 kept-alive clients: no failed request, nothing from an upstream once its swap is acknowledged', async ({
    haproxy,
    redis,
    redisPrefix,
    annotate,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, haproxy, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    const runtime = new HaproxyRuntime(haproxy.target)
    const upstreams: Upstream[] = []
    for (let i = 0; i <= 20; i++) upstreams.push(await upstream(`u${i}`))
    const served = (i: number) => instance(`u${i}`, upstreams[i]?.port ?? 0)
    try {
      await h.agent().start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 120 })
      const signal = AbortSignal.timeout(110_000)
      await traffic.add(served(0), signal)
      const before = await runtime.processes()
      const load = startLoad({ port: listenPort, concurrency: 8, maxRequests: 500_000, maxMs: 100_000 })
      await until('load under way', async () => load.done() >= 50)
      const ackedAt: number[] = []
      const swapMs: number[] = []
      const drainMs: number[] = []
      for (let i = 0; i < 20; i++) {
        const started = now()
        const change = await traffic.swap([served(i + 1)], [served(i)], signal)
        ackedAt.push(now())
        swapMs.push(now() - started)
        expect(await change.drained(10_000, signal)).toBe(true)
        drainMs.push(now() - (ackedAt[i] ?? 0))
        await sleep(100)
      }
      const atEnd = load.done()
      await until('load after the last swap', async () => load.done() >= atEnd + 200, 15_000)
      const samples = await load.stop()

      expect(samples.filter((sample) => sample.status !== 200)).toEqual([])
      // Server side (this process's clock): no request reached u<i> after its swap was acknowledged.
      const late = upstreams
        .slice(0, 20)
        .map((u, i) => ({ name: u.name, after: u.arrivals.filter((at) => at > (ackedAt[i] ?? 0)).length }))
      expect(late.filter((entry) => entry.after > 0)).toEqual([])
      // Client side: a request started after the acknowledgement never answered by u<i>.
      const stale = samples.filter((sample) => {
        const i = Number(/^u(\d+)$/.exec(sample.body)?.[1])
        return i < 20 && sample.start > (ackedAt[i] ?? Number.POSITIVE_INFINITY)
      })
      expect(stale).toEqual([])
      const last = ackedAt[19] ?? 0
      expect(samples.filter((s) => s.start > last).every((s) => s.body === 'u20')).toBe(true)
      expect(new Set(samples.map((s) => s.body)).size).toBeGreaterThan(10)
      // Not one reload: every change went through the Runtime API.
      expect(await runtime.processes()).toMatchObject({ reloads: before.reloads, workers: before.workers })
      await annotate(`kept-alive load (8 connections) over 20 swaps: ${rate(samples)}, 0 failed`)
      await annotate(`swap -> acknowledged (${swapMs.length}): ${figure(swapMs)}`)
      await annotate(`acknowledged -> drained (${drainMs.length}): ${figure(drainMs)}`)
      const runtimeMs = h.lines
        .filter((line) => line.msg === 'gateway servers changed through the Runtime API')
        .map((line) => (line as { ms?: number }).ms ?? Number.NaN)
      await annotate(
        `Runtime API change (add + enable + drain, site file, read back) (${runtimeMs.length}): ${figure(runtimeMs)}`,
      )
    } finally {
      await h.close()
      await Promise.all(upstreams.map((u) => u.close()))
    }
  })

  test('weights move the new version’s share in place under 8 kept-alive clients (a canary’s steps): no failed request, no reload', async ({
    haproxy,
    redis,
    redisPrefix,
    annotate,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, haproxy, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    const runtime = new HaproxyRuntime(haproxy.target)
    const [old, canary] = [await upstream('old'), await upstream('new')]
    const oldInstance = instance('old', old.port, { release: 'r1' })
    const newInstance = instance('new', canary.port, { release: 'r2', weight: 0 })
    try {
      await h.agent().start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 120 })
      const signal = AbortSignal.timeout(110_000)
      await traffic.add(oldInstance, signal)
      await traffic.add(newInstance, signal)
      const before = await runtime.processes()
      const load = startLoad({ port: listenPort, concurrency: 8, maxRequests: 500_000, maxMs: 100_000 })
      /** The new version's share of the next `count` requests the two upstreams got. */
      const shareOfNext = async (count: number) => {
        const [o, n] = [old.arrivals.length, canary.arrivals.length]
        await until(
          `${count} requests`,
          async () => old.arrivals.length - o + canary.arrivals.length - n >= count,
        )
        return (canary.arrivals.length - n) / (old.arrivals.length - o + canary.arrivals.length - n)
      }
      expect(await shareOfNext(200)).toBe(0)
      const shares: string[] = []
      for (const [oldWeight, newWeight, expected] of [
        [19, 1, 0.05],
        [3, 1, 0.25],
        [1, 1, 0.5],
        [0, 1, 1],
      ] as const) {
        await traffic.weigh(
          [
            { ...oldInstance, weight: oldWeight },
            { ...newInstance, weight: newWeight },
          ],
          signal,
        )
        const share = await shareOfNext(400)
        shares.push(`${oldWeight}:${newWeight} -> ${(share * 100).toFixed(1)}%`)
        expect(Math.abs(share - expected)).toBeLessThan(0.04)
      }
      const samples = await load.stop()
      expect(samples.filter((sample) => sample.status !== 200)).toEqual([])
      expect(await runtime.processes()).toMatchObject({ reloads: before.reloads, workers: before.workers })
      await annotate(
        `new version's share by weights (old:new): ${shares.join(', ')}; ${rate(samples)}, 0 failed`,
      )
    } finally {
      await h.close()
      await Promise.all([old.close(), canary.close()])
    }
  })

  test('new sites (config + reload) and a removed one while a site serves 8 kept-alive clients: no failed request', async ({
    haproxy,
    redis,
    redisPrefix,
    annotate,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, haproxy, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    const [one, two] = [await upstream('one'), await upstream('two')]
    try {
      const agent = h.agent()
      await agent.start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 120 })
      const signal = AbortSignal.timeout(110_000)
      await traffic.add(instance('one', one.port), signal)
      const load = startLoad({ port: listenPort, concurrency: 8, maxRequests: 500_000, maxMs: 100_000 })
      await until('load under way', async () => load.done() >= 50)
      const reloadLine = (line: { msg: string }) =>
        line.msg === 'gateway site configured (HAProxy reloaded)' ||
        line.msg === 'gateway site removed from HAProxy'
      const earlier = h.lines.filter(reloadLine).length
      const added: number[] = []
      for (const environment of ['a', 'b', 'c']) {
        const port = await freePort()
        h.sites.push({ project: 'demo', environment, listenPort: port })
        await agent.sync()
        await until(`site ${environment}`, async () =>
          (await get(port)).body.includes(`no live instance of demo/${environment}`),
        )
        added.push(port)
        await sleep(300)
      }
      h.sites.splice(1, 1)
      await agent.sync()
      await until('site a removed', async () => (await get(added[0] ?? 0)).status === 0)
      // A swap right after the reloads, still under load.
      await traffic.swap([instance('two', two.port)], [instance('one', one.port)], signal)
      const atEnd = load.done()
      await until('load after the changes', async () => load.done() >= atEnd + 200, 15_000)
      const samples = await load.stop()
      expect(samples.filter((sample) => sample.status !== 200)).toEqual([])
      const reloads = h.lines
        .filter(reloadLine)
        .slice(earlier)
        .map((line) => (line as { reloadMs?: number }).reloadMs ?? Number.NaN)
      expect(reloads).toHaveLength(4)
      await annotate(
        `kept-alive load (8 connections) over 3 sites added and 1 removed: ${rate(samples)}, 0 failed`,
      )
      await annotate(`check + reload -> new worker confirmed (${reloads.length}): ${figure(reloads)}`)
    } finally {
      await h.close()
      await one.close()
      await two.close()
    }
  })

  test('an idle kept-alive connection a reload left on the old worker: the swap drains only once that worker is gone', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, haproxy, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    const runtime = new HaproxyRuntime(haproxy.target)
    const [one, two] = [await upstream('one'), await upstream('two')]
    const client = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const agent = h.agent()
      await agent.start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 120 })
      const signal = AbortSignal.timeout(60_000)
      await traffic.add(instance('one', one.port), signal)
      expect(await getOn(client, listenPort)).toMatchObject({ status: 200, body: 'one\n', reused: false })
      // A reload for another site: the idle connection stays with the old worker, which
      // refuses Runtime API changes ("Proxy is disabled.") and keeps its servers as they were.
      const port = await freePort()
      h.sites.push({ project: 'demo', environment: 'other', listenPort: port })
      await agent.sync()
      await until('the other site', async () => (await get(port)).status === 503)
      // (The master CLI answers again a moment after the new worker.)
      await until(
        'the old worker',
        async () => (await runtime.processes().catch(() => undefined))?.oldWorkers.length === 1,
      )
      const change = await traffic.swap([instance('two', two.port)], [instance('one', one.port)], signal)
      expect((await get(listenPort)).body).toBe('two\n')
      // `one` may still get this connection's next request: not drained.
      expect(await change.drained(1000, signal)).toBe(false)
      expect(await getOn(client, listenPort)).toEqual({ status: 200, body: 'one\n', reused: true })
      // That was its last request there (idle-close-on-response): the old worker exits.
      expect(await change.drained(10_000, signal)).toBe(true)
      expect((await runtime.processes()).oldWorkers).toEqual([])
      expect(await getOn(client, listenPort)).toMatchObject({ status: 200, body: 'two\n', reused: false })
    } finally {
      client.destroy()
      await h.close()
      await one.close()
      await two.close()
    }
  })
})
