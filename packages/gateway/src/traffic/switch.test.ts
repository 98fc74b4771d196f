import type { Instance } from '@slipway/contracts'
import { isAppError } from '@slipway/core'
import { DockerodeHost } from '@slipway/docker'
import { demoImage, type Fleet, fleetHost, freePort } from '@slipway/testing'
import { startLoad } from '@slipway/testing/services'
import { describe, expect } from 'vitest'
import { sleep } from '../support/bounded.ts'
import { get, gatewayTest as test, until } from '../test-support/fixtures.ts'
import { harness, instance } from '../test-support/harness.ts'
import { createTrafficSwitch } from './switch.ts'

const greeting = (body: string) => /GREETING=(\S*)/.exec(body)?.[1]

/**
 * Runs demo containers (name -> Docker host), labelled for the fixture's cleanup, healthy on
 * return. Containers that leave a host's bridge can change its MAC on this fleet (see
 * README), stalling the others on that bridge; a test that kills one runs it elsewhere.
 */
async function demoContainers(
  fleet: Fleet,
  testId: string,
  placement: Record<string, string>,
): Promise<Instance[]> {
  const demo = await demoImage()
  const auth = { serveraddress: fleet.registry.url, ...fleet.registry }
  const hosts = new Map<string, DockerodeHost>()
  for (const name of new Set(Object.values(placement))) {
    const host = new DockerodeHost(name, fleetHost(name))
    await host.pull(demo.image, auth)
    hosts.set(name, host)
  }
  return Promise.all(
    Object.entries(placement).map(async ([name, hostName]) => {
      const host = hosts.get(hostName) as DockerodeHost
      const info = await host.run({
        name: `gw-${testId}-${name}`,
        image: demo.image,
        env: { GREETING: name, ENVT: 'pre-release', PROJ: 'demo' },
        labels: { 'slipway.test': testId },
        containerPort: 8080,
        hostPort: 'auto',
        stopGraceSeconds: 5,
      })
      const port = info.hostPort ?? 0
      await until(`${name} healthy`, async () => (await get(port, '/healthz')).status === 200)
      return instance(name, port, { host: hostName, containerId: info.id, image: demo.image })
    }),
  )
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

describe('TrafficSwitch + agent + nginx + real containers', () => {
  test('moves traffic from one container to another under load with zero failed requests', async ({
    nginx,
    redis,
    redisPrefix,
    testId,
    fleet,
    annotate,
  }) => {
    const [one, two] = (await demoContainers(fleet, testId, { one: 'pre-1', two: 'pre-1' })) as [
      Instance,
      Instance,
    ]
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, nginx, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    try {
      await h.agent().start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 120 })
      const signal = AbortSignal.timeout(60_000)
      await traffic.add(one, signal)
      const first = await get(listenPort)
      expect(first.status).toBe(200)
      expect(greeting(first.body)).toBe('one')

      const load = startLoad({ port: listenPort, concurrency: 4, maxRequests: 3000, maxMs: 20_000 })
      await until('load under way', async () => load.done() >= 20)
      // one -> two -> one -> two under load.
      let [live, next] = [one, two]
      for (let i = 0; i < 3; i++) {
        await traffic.add(next, signal)
        await traffic.remove(live, signal)
        ;[live, next] = [next, live]
      }
      const switched = performance.timeOrigin + performance.now()
      const atSwitch = load.done()
      await until(
        'load after the switch',
        async () => load.done() >= atSwitch + 50 || undefined,
        15_000,
      ).catch(() => undefined)
      const samples = await load.stop()

      const failed = samples.filter((sample) => sample.status !== 200)
      expect(failed).toEqual([])
      const before = samples.filter((sample) => sample.end < switched)
      const after = samples.filter((sample) => sample.start > switched)
      expect(before.some((sample) => greeting(sample.body) === 'one')).toBe(true)
      expect(after.length).toBeGreaterThan(0)
      expect(after.filter((sample) => greeting(sample.body) !== 'two')).toEqual([])
      const seconds =
        (Math.max(...samples.map((s) => s.end)) - Math.min(...samples.map((s) => s.start))) / 1000
      await annotate(
        `load: ${samples.length} requests in ${seconds.toFixed(1)} s = ${(samples.length / seconds).toFixed(0)} req/s, 0 failed`,
      )
    } finally {
      await h.close()
    }
  })

  test('swap replaces instances in one reload; the drain ends when the requests in flight end', async ({
    nginx,
    redis,
    redisPrefix,
    testId,
    fleet,
  }) => {
    const started = await demoContainers(fleet, testId, { one: 'pre-1', two: 'pre-1', three: 'prod-1' })
    const [one, two, three] = started as [Instance, Instance, Instance]
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, nginx, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    try {
      await h.agent().start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 120 })
      const signal = AbortSignal.timeout(60_000)
      await traffic.add(one, signal)
      const reloads = () => h.lines.filter((line) => line.msg === 'gateway config live').length
      const before = reloads()

      // No request in flight: the old workers go at once, the change drains right away.
      const quiet = await traffic.swap([two], [one], signal)
      expect(reloads()).toBe(before + 1)
      expect(greeting((await get(listenPort)).body)).toBe('two')
      const t = performance.now()
      expect(await quiet.drained(5000, signal)).toBe(true)
      expect(performance.now() - t).toBeLessThan(4000)

      // A slow request on `two` keeps an old worker: not drained within 0.5 s, drained once it ends.
      const slow = get(listenPort, '/cgi-bin/slow.cgi?ms=2500')
      await sleep(300)
      const busy = await traffic.swap([three], [two], signal)
      expect(greeting((await get(listenPort)).body)).toBe('three')
      expect(await busy.drained(500, signal)).toBe(false)
      expect(await busy.drained(10_000, signal)).toBe(true)
      const answer = await slow
      expect(answer.status).toBe(200)
      expect(answer.body).toMatch(/^slow /)

      // A swap that cannot finish (no agent) puts the registry back as it was.
      await h.close()
      const lone = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 120, timeoutMs: 500 })
      const failed = await lone.swap([one], [three], signal).catch((error: unknown) => error)
      expect(isAppError(failed) && failed.code).toBe('TIMEOUT')
      expect((await h.registry.list('demo', 'pre-release')).map((entry) => entry.id)).toEqual(['three'])
    } finally {
      await h.close()
    }
  })

  test('a container killed without deregistering: requests still succeed on the other one', async ({
    nginx,
    redis,
    redisPrefix,
    testId,
    fleet,
  }) => {
    const [one, two] = (await demoContainers(fleet, testId, { one: 'prod-3', two: 'pre-1' })) as [
      Instance,
      Instance,
    ]
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, nginx, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    try {
      await h.agent().start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 120 })
      const signal = AbortSignal.timeout(60_000)
      await traffic.add(one, signal)
      await traffic.add(two, signal)
      const seen = new Set<string | undefined>()
      for (let i = 0; i < 10; i++) seen.add(greeting((await get(listenPort)).body))
      expect(seen).toEqual(new Set(['one', 'two']))

      await new DockerodeHost('prod-3', fleetHost('prod-3')).remove(one.containerId)
      const replies = []
      for (let i = 0; i < 40; i++) replies.push(await get(listenPort))
      expect(replies.filter((reply) => reply.status !== 200)).toEqual([])
      expect(new Set(replies.map((reply) => greeting(reply.body)))).toEqual(new Set(['two']))
      // Still registered (nobody deregistered it): the upstream lists it, nginx skips it.
      expect((await h.registry.list('demo', 'pre-release')).map((entry) => entry.id).sort()).toEqual([
        'one',
        'two',
      ])
    } finally {
      await h.close()
    }
  })

  test('repeated switches keep serving; time from add to serving through nginx', async ({
    nginx,
    redis,
    redisPrefix,
    testId,
    fleet,
    annotate,
  }) => {
    const [one, two] = (await demoContainers(fleet, testId, { one: 'pre-1', two: 'pre-1' })) as [
      Instance,
      Instance,
    ]
    const listenPort = await freePort()
    const h = harness(redis, redisPrefix, nginx, [
      { project: 'demo', environment: 'pre-release', listenPort },
    ])
    try {
      await h.agent().start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 120 })
      const signal = AbortSignal.timeout(120_000)
      await traffic.add(one, signal)
      const addMs: number[] = []
      const removeMs: number[] = []
      let [live, next] = [one, two]
      for (let i = 0; i < 20; i++) {
        const started = performance.now()
        await traffic.add(next, signal)
        addMs.push(performance.now() - started)
        const removing = performance.now()
        await traffic.remove(live, signal)
        removeMs.push(performance.now() - removing)
        const reply = await get(listenPort)
        expect(reply.status).toBe(200)
        expect(greeting(reply.body)).toBe(next.id)
        ;[live, next] = [next, live]
        await sleep(20)
      }
      const reloads = h.lines
        .map((line) => (line as { reloadMs?: number }).reloadMs)
        .filter((ms): ms is number => typeof ms === 'number')
      const figure = (values: number[]) =>
        `p50 ${percentile(values, 50).toFixed(0)} ms, p95 ${percentile(values, 95).toFixed(0)} ms`
      await annotate(`add -> serving (${addMs.length}): ${figure(addMs)}`)
      await annotate(`remove -> gone (${removeMs.length}): ${figure(removeMs)}`)
      await annotate(`nginx reload -> confirmed (${reloads.length}): ${figure(reloads)}`)
    } finally {
      await h.close()
    }
  })
})
