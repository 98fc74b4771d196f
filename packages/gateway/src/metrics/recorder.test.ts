import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import type { Instance } from '@slipway/contracts'
import { createLogger, type Logger } from '@slipway/core'
import { integrationTest } from '@slipway/testing'
import { afterEach, describe, expect } from 'vitest'
import { DiscoveryRegistry } from '../discovery/registry.ts'
import { startHaproxy, until } from './haproxy-fixture.ts'
import { histogramRelativeError } from './histogram.ts'
import { TrafficRecorder } from './recorder.ts'
import { readTraffic, waitForTraffic } from './report.ts'

const production = { project: 'demo', environment: 'production' }
const empty = { project: 'demo', environment: 'empty' }
const slowMs = 300

interface Upstream {
  port: number
  /** Requests it answered, by path. */
  served: Map<string, number>
  close(): Promise<void>
}

/** An application instance: `/fail` answers 500, `/slow` answers after `slowMs`, the rest 200. */
async function upstream(): Promise<Upstream> {
  const served = new Map<string, number>()
  const server = http.createServer((request, response) => {
    const url = request.url ?? '/'
    served.set(url, (served.get(url) ?? 0) + 1)
    if (url === '/fail') {
      response.statusCode = 500
      response.end('failed on purpose')
    } else if (url === '/slow') setTimeout(() => response.end('slow'), slowMs)
    else response.end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    served,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Sends `count` GETs over a pool of kept-alive connections; resolves with the statuses. */
async function send(agent: http.Agent, port: number, path: string, count: number): Promise<number[]> {
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port, path, agent, timeout: 10_000 }, (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode ?? 0))
      })
      request.on('timeout', () => request.destroy(new Error(`GET ${path} timed out`)))
      request.on('error', reject)
    })
  return Promise.all(Array.from({ length: count }, one))
}

function testLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { logger: createLogger({ name: 'traffic-test', level: 'debug', destination }), lines }
}

function instance(id: string, release: string, port: number): Instance {
  return {
    id,
    project: production.project,
    environment: production.environment,
    release,
    image: '127.0.0.1:5001/demo@sha256:0',
    host: 'pre-1',
    address: '127.0.0.1',
    port,
    containerId: `c-${id}`,
  }
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('TrafficRecorder against a real HAProxy', () => {
  integrationTest(
    'counts every request by cause and by release, with p99 at least the slow upstream',
    async ({ redis, redisPrefix }) => {
      const haproxy = await startHaproxy([production, empty])
      cleanups.push(() => haproxy.stop())
      const [a, b] = [await upstream(), await upstream()]
      cleanups.push(
        () => a.close(),
        () => b.close(),
      )
      const registry = new DiscoveryRegistry({ redis, prefix: redisPrefix })
      cleanups.push(async () => registry.close())
      await registry.register(instance('r3f2a-9k2d-4', 'release-a', a.port), 60)
      await registry.register(instance('r7b1c-0x5e-2', 'release-b', b.port), 60)
      await haproxy.addServer(production, 'r3f2a-9k2d-4', a.port)
      await haproxy.addServer(production, 'r7b1c-0x5e-2', b.port)
      const { logger, lines } = testLogger()
      const recorder = new TrafficRecorder({
        adminSocket: haproxy.adminSocket,
        redis,
        prefix: redisPrefix,
        logger,
      })
      cleanups.push(() => recorder.stop())
      recorder.start()
      await until('the recorder follows the ring', async () => recorder.status().live)

      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
      cleanups.push(async () => agent.destroy())
      const fromMs = Date.now()
      const ok = await send(agent, haproxy.ports.demo_production as number, '/', 40)
      const failed = await send(agent, haproxy.ports.demo_production as number, '/fail', 10)
      const slow = await send(agent, haproxy.ports.demo_production as number, '/slow', 5)
      const none = await send(agent, haproxy.ports.demo_empty as number, '/', 7)
      const toMs = Date.now()
      expect([ok, failed, slow, none].map((statuses) => [...new Set(statuses)])).toEqual([
        [200],
        [500],
        [200],
        [503],
      ])

      expect(await waitForTraffic(redis, redisPrefix, toMs, { timeoutMs: 15_000 })).toBe(true)
      const report = await readTraffic(redis, redisPrefix, 'demo', 'production', fromMs, toMs)
      expect(report.totals).toEqual({
        requests: 55,
        ok: 45,
        failed: 10,
        failedBy: { connection: 0, gateway5xx: 0, app5xx: 10 },
        clientAborts: 0,
        retried: 0,
      })
      const servedBy = (u: Upstream) => [...u.served.values()].reduce((sum, n) => sum + n, 0)
      const byRelease: Record<string, number> = {}
      for (const point of report.series)
        for (const [release, count] of Object.entries(point.byRelease))
          byRelease[release] = (byRelease[release] ?? 0) + count
      expect(byRelease).toEqual({ 'release-a': servedBy(a), 'release-b': servedBy(b) })
      // Each release's own figures (a canary's per version): its requests, its errors, its p99.
      const of = (u: Upstream) => ({ requests: servedBy(u), errors: u.served.get('/fail') ?? 0 })
      expect(report.releases['release-a']).toMatchObject(of(a))
      expect(report.releases['release-b']).toMatchObject(of(b))
      const slowest = [a, b].find((u) => (u.served.get('/slow') ?? 0) > 0)
      const slowRelease = slowest === a ? 'release-a' : 'release-b'
      expect(report.releases[slowRelease]?.latencyMs.p99).toBeGreaterThanOrEqual(
        slowMs * (1 - histogramRelativeError),
      )
      expect(report.series.reduce((sum, point) => sum + point.failed, 0)).toBe(10)
      expect(report.latencyMs.p99).toBeGreaterThanOrEqual(slowMs * (1 - histogramRelativeError))
      expect(report.complete).toBe(true)
      expect(report.series.length).toBe((report.toMs - report.fromMs) / 1000)

      const none503 = await readTraffic(redis, redisPrefix, 'demo', 'empty', fromMs, toMs)
      expect(none503.totals).toMatchObject({
        requests: 7,
        failed: 7,
        failedBy: { gateway5xx: 7, app5xx: 0, connection: 0 },
      })
      expect(none503.series.every((point) => Object.keys(point.byRelease).length === 0)).toBe(true)
      expect(lines.filter((line) => line.level >= 50)).toEqual([])
    },
  )

  integrationTest(
    'a takeover, a closed connection and a reload neither lose nor repeat a request',
    async ({ redis, redisPrefix }) => {
      const haproxy = await startHaproxy([production])
      cleanups.push(() => haproxy.stop())
      const a = await upstream()
      cleanups.push(() => a.close())
      await haproxy.addServer(production, 's1', a.port)
      const port = haproxy.ports.demo_production as number
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
      cleanups.push(async () => agent.destroy())
      const releaseOf = async () => 'release-a'
      const options = {
        adminSocket: haproxy.adminSocket,
        redis,
        prefix: redisPrefix,
        releaseOf,
        leaseTtlMs: 1500,
      }
      const first = testLogger()
      const second = testLogger()
      const one = new TrafficRecorder({ ...options, logger: first.logger })
      const two = new TrafficRecorder({ ...options, logger: second.logger })
      cleanups.push(
        () => one.stop(),
        () => two.stop(),
      )
      one.start()
      await until('the first recorder leads', async () => one.status().live)
      two.start()

      const fromMs = Date.now()
      const statuses: number[] = []
      statuses.push(...(await send(agent, port, '/', 30)))
      // HAProxy closes the ring connection (as at a stats timeout): the recorder resumes after its last line.
      await until('the ring connection is shut down', async () => (await haproxy.closeCliSessions()) > 0)
      await until(
        'the ring connection was reopened',
        async () => one.status().connections >= 2 && one.status().live,
      )
      statuses.push(...(await send(agent, port, '/', 20)))
      expect(two.status().leader).toBe(false)
      // Stop the leader before its last seconds are due: the next one must find them in the ring.
      await one.stop()
      await until('the second recorder leads', async () => two.status().live, 15_000)
      statuses.push(...(await send(agent, port, '/', 10)))
      await haproxy.reload()
      statuses.push(...(await send(agent, port, '/', 15)))
      expect(new Set(statuses)).toEqual(new Set([200]))
      await until(
        'the new worker is followed',
        async () => two.status().workers.length >= 1 && two.status().live,
      )
      const toMs = Date.now()
      expect(await waitForTraffic(redis, redisPrefix, toMs + 2000, { timeoutMs: 20_000 })).toBe(true)

      const report = await readTraffic(redis, redisPrefix, 'demo', 'production', fromMs, toMs + 2000)
      expect(report.totals.requests).toBe(75)
      expect(report.totals.ok).toBe(75)
      expect([...a.served.values()].reduce((sum, n) => sum + n, 0)).toBe(75)
      expect(report.series.reduce((sum, point) => sum + (point.byRelease['release-a'] ?? 0), 0)).toBe(75)
      expect([...first.lines, ...second.lines].filter((line) => line.level >= 50)).toEqual([])
    },
  )

  integrationTest(
    'HAProxy restarting: the recorder reconnects with backoff and counts both sides',
    async ({ redis, redisPrefix }) => {
      const haproxy = await startHaproxy([production])
      cleanups.push(() => haproxy.stop())
      const a = await upstream()
      cleanups.push(() => a.close())
      await haproxy.addServer(production, 's1', a.port)
      const port = haproxy.ports.demo_production as number
      const { logger, lines } = testLogger()
      const releaseOf = async () => 'release-a'
      const recorder = new TrafficRecorder({
        adminSocket: haproxy.adminSocket,
        redis,
        prefix: redisPrefix,
        logger,
        releaseOf,
      })
      cleanups.push(() => recorder.stop())
      recorder.start()
      await until('the recorder follows the ring', async () => recorder.status().live)

      const fromMs = Date.now()
      const before = await send(new http.Agent({ keepAlive: false }), port, '/', 10)
      // Read before the restart: lines still in the stopped process's ring when it exits are
      // gone with it (a few ms of lines at most, in 1 of 3-6 runs here); this test is about the
      // reconnect and the counting of both sides.
      await until('the recorder holds the requests before the restart', async () => {
        const seen = await readTraffic(redis, redisPrefix, 'demo', 'production', fromMs, Date.now() + 1000)
        return seen.totals.requests === 10
      })
      await haproxy.restart()
      const after = await send(new http.Agent({ keepAlive: false }), port, '/', 12)
      expect(new Set([...before, ...after])).toEqual(new Set([200]))
      const toMs = Date.now()
      // A line read after its second was written counts in the next open second (never lost,
      // never twice): the window reaches past the last request, where nothing else was sent.
      expect(await waitForTraffic(redis, redisPrefix, toMs + 2000, { timeoutMs: 20_000 })).toBe(true)
      const report = await readTraffic(redis, redisPrefix, 'demo', 'production', fromMs, toMs + 2000)
      expect(report.totals).toMatchObject({ requests: 22, ok: 22, failed: 0 })
      expect(recorder.status().workers).toHaveLength(1)
      // The restart shows in the log with its cause.
      expect(lines.some((line) => line.msg === 'traffic ring unreachable; retrying')).toBe(true)
      expect(lines.filter((line) => line.level >= 50)).toEqual([])
    },
  )
})
