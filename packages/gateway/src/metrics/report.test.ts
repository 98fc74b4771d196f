import { TrafficReport } from '@slipway/contracts'
import { integrationTest } from '@slipway/testing'
import type { Redis } from 'ioredis'
import { describe, expect } from 'vitest'
import { LatencyHistogram } from './histogram.ts'
import { readTraffic, waitForTraffic } from './report.ts'
import { type SecondWrite, trafficKeys, writeSeconds } from './store.ts'
import type { SecondRecord } from './tally.ts'

const base = 1_796_398_000_000

function second(change: Partial<SecondRecord>, latencies: number[] = []): string {
  const latency = new LatencyHistogram()
  for (const ms of latencies) latency.add(ms)
  return JSON.stringify({
    requests: 0,
    ok: 0,
    connection: 0,
    gateway5xx: 0,
    app5xx: 0,
    clientAborts: 0,
    retried: 0,
    byRelease: {},
    latency: latency.toPairs(),
    ...change,
  } satisfies SecondRecord)
}

/** Writes like the recorder does: under the lease, with the mark. */
async function write(redis: Redis, prefix: string, upToMs: number, entries: SecondWrite[]) {
  await redis.set(trafficKeys(prefix).lease, 'token', 'PX', 60_000)
  return writeSeconds(redis, prefix, 'token', upToMs, {}, entries)
}

describe('readTraffic', () => {
  integrationTest(
    'merges the seconds of the window, fills the gaps, and says whether it is complete',
    async ({ redis, redisPrefix }) => {
      const site = 'demo_production'
      expect(
        await write(redis, redisPrefix, base + 4000, [
          { site, secondMs: base - 1000, json: second({ requests: 99, ok: 99 }) },
          {
            site,
            secondMs: base,
            json: second(
              { requests: 10, ok: 9, app5xx: 1, byRelease: { a: 10 } },
              [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            ),
          },
          {
            site,
            secondMs: base + 2000,
            json: second(
              {
                requests: 6,
                ok: 3,
                gateway5xx: 2,
                connection: 1,
                clientAborts: 1,
                retried: 2,
                byRelease: { a: 2, b: 3 },
              },
              [300, 1, 1, 1, 1],
            ),
          },
          { site: 'demo_other', secondMs: base + 2000, json: second({ requests: 50, ok: 50 }) },
        ]),
      ).toBe('written')

      const report = await readTraffic(redis, redisPrefix, 'demo', 'production', base + 10, base + 3500)
      expect(TrafficReport.parse(report)).toEqual(report)
      expect(report).toMatchObject({
        fromMs: base,
        toMs: base + 4000,
        stepSeconds: 1,
        totals: {
          requests: 16,
          ok: 12,
          failed: 4,
          failedBy: { connection: 1, gateway5xx: 2, app5xx: 1 },
          clientAborts: 1,
          retried: 2,
        },
        recordedUntilMs: base + 5000,
        complete: true,
      })
      expect(report.series).toEqual([
        { t: base, byRelease: { a: 10 }, failed: 1 },
        { t: base + 1000, byRelease: {}, failed: 0 },
        { t: base + 2000, byRelease: { a: 2, b: 3 }, failed: 3 },
        { t: base + 3000, byRelease: {}, failed: 0 },
      ])
      // 15 latencies: 1..10, four 1s and one 300: p50 is the 8th smallest (4), p99 the largest.
      expect(report.latencyMs.p50).toBeCloseTo(4, -0.5)
      expect(report.latencyMs.p99).toBeGreaterThan(285)

      const later = await readTraffic(redis, redisPrefix, 'demo', 'production', base, base + 9000)
      expect(later.complete).toBe(false)
      expect(later.totals.requests).toBe(16)
    },
  )

  integrationTest('long windows get longer steps, at most 1800 points', async ({ redis, redisPrefix }) => {
    await write(redis, redisPrefix, base + 7200_000, [
      {
        site: 'demo_production',
        secondMs: base + 1000,
        json: second({ requests: 1, ok: 1, byRelease: { a: 1 } }),
      },
      {
        site: 'demo_production',
        secondMs: base + 3000,
        json: second({ requests: 2, ok: 2, byRelease: { a: 2 } }),
      },
    ])
    const report = await readTraffic(redis, redisPrefix, 'demo', 'production', base, base + 7200_000)
    expect(report.stepSeconds).toBe(4)
    expect(report.series).toHaveLength(1800)
    expect(report.series[0]).toEqual({ t: base, byRelease: { a: 3 }, failed: 0 })
  })

  integrationTest('an empty stream, and a window the streams cannot hold', async ({ redis, redisPrefix }) => {
    const report = await readTraffic(redis, redisPrefix, 'demo', 'production', base, base + 2000)
    expect(report).toMatchObject({
      totals: { requests: 0 },
      latencyMs: { p50: null, p99: null },
      recordedUntilMs: null,
    })
    expect(report.complete).toBe(false)
    await expect(
      readTraffic(redis, redisPrefix, 'demo', 'production', base, base + 3 * 86_400_000),
    ).rejects.toThrow(/at most/)
    await expect(readTraffic(redis, redisPrefix, 'demo', 'production', base + 1, base)).rejects.toThrow(
      /invalid/,
    )
  })

  integrationTest('a write never goes back, and needs the lease', async ({ redis, redisPrefix }) => {
    const entry = { site: 'demo_production', secondMs: base, json: second({ requests: 1, ok: 1 }) }
    expect(await write(redis, redisPrefix, base, [entry])).toBe('written')
    expect(await write(redis, redisPrefix, base, [entry])).toBe('already-written')
    expect(await writeSeconds(redis, redisPrefix, 'not-the-holder', base + 1000, {}, [])).toBe('lease-lost')
    expect(
      (await readTraffic(redis, redisPrefix, 'demo', 'production', base, base + 1000)).totals.requests,
    ).toBe(1)
  })
})

describe('waitForTraffic', () => {
  integrationTest(
    'true once the recorder wrote the second holding the end, false when it ran out',
    async ({ redis, redisPrefix }) => {
      expect(await waitForTraffic(redis, redisPrefix, base + 500, { timeoutMs: 200 })).toBe(false)
      await write(redis, redisPrefix, base, [])
      expect(await waitForTraffic(redis, redisPrefix, base + 500, { timeoutMs: 0 })).toBe(true)
      expect(await waitForTraffic(redis, redisPrefix, base + 1000, { timeoutMs: 0 })).toBe(true)
      expect(await waitForTraffic(redis, redisPrefix, base + 1001, { timeoutMs: 0 })).toBe(false)
    },
  )
})
