import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Instance } from '@slipway/contracts'
import { readTraffic } from '@slipway/gateway'
import type { VersionFigures } from '@slipway/rollout'
import { demoImage, integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { type CanaryPlan, canaryRelease } from './canary.ts'
import { rollout } from './rollout.ts'
import {
  demoApp,
  demoRequest,
  deployHosts,
  failures,
  siteOn,
  startLoad,
  strategy,
  versionOf,
  withLeases,
} from './test-support/index.ts'

/** A demoImage patch: the demo answering 500 to every other request (a counter in /app/n). */
async function failsHalf(dir: string): Promise<void> {
  const index = path.join(dir, 'www', 'cgi-bin', 'index.cgi')
  const text = await readFile(index, 'utf8')
  await writeFile(
    index,
    // A function as the replacement: a replacement string would read `$(` patterns specially.
    text.replace(
      "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
      (line) =>
        `n=$(( $(cat /app/n 2>/dev/null || echo 0) + 1 )); echo $n > /app/n\nif [ $(( n % 2 )) -eq 0 ]; then printf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nbroken\\n'; exit 0; fi\n${line}`,
    ),
  )
}

const plan: CanaryPlan = {
  steps: [
    { weight: 10, holdSeconds: 3, holdRequests: 40, manual: false },
    { weight: 50, holdSeconds: 3, holdRequests: 40, manual: false },
  ],
  thresholds: { minRequests: 20, maxErrorRate: 0.05, maxErrorRateRatio: 2, maxP99Ms: null, maxP99Ratio: 10 },
}

describe('canary releases on prod-1 and prod-2 behind the real gateway, judged by what it measured', () => {
  test('a healthy release walks every step and completes with 0 failed requests; a release failing half its requests is rolled back at the first step', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    const [v1, v2, v3] = await Promise.all([
      demoImage({ ref: 'v1.0.0' }),
      demoImage({ ref: 'v1.1.0' }),
      demoImage({ ref: 'v1.1.0', version: '3.0.0', patch: failsHalf }),
    ])
    const hosts = deployHosts(['prod-1', 'prod-2'])
    const fixtures = { fleet, redis, redisPrefix, testId }
    const { project, environment, gateway, base } = await withLeases(
      db,
      await siteOn(fixtures, hosts, { record: true, ttlSeconds: 600 }),
    )
    /** What the gateway measured since `fromMs`: per release, and the requests HAProxy retried. */
    const figures = async (fromMs: number, signal: AbortSignal) => {
      const report = await readTraffic(redis, redisPrefix, project, environment, fromMs, Date.now(), {
        signal,
      })
      const releases: Record<string, VersionFigures> = Object.fromEntries(
        Object.entries(report.releases).map(([release, seen]) => [
          release,
          { requests: seen.requests, errors: seen.errors, p99Ms: seen.latencyMs.p99 },
        ]),
      )
      return { releases, retried: report.totals.retried }
    }
    const request = (release: { id: string; image: string }) =>
      demoRequest(base, release, 2, { strategy: strategy() })
    const site = (release: { id: string; image: string }) => {
      const { hosts: _, replicas: __, release: ___, ...rest } = request(release)
      return { ...rest, app: demoApp }
    }
    /** The canary of `release` on hosts[host], beside `live`. */
    const canaryOf = (release: { id: string; image: string }, host: 0 | 1, live: Instance[]) =>
      canaryRelease({
        site: site(release),
        host: hosts[host] as (typeof hosts)[number],
        release,
        live,
        plan,
        figures,
        pollMs: 500,
        signal: AbortSignal.timeout(90_000),
      })
    try {
      const first = await rollout(request({ id: 'v1', image: v1.image }))
      expect(first.status).toBe('succeeded')

      // A healthy release under 8 kept-alive clients: every step passes, then the rolling
      // completion; not one failed request.
      const load = startLoad({ port: gateway.port, concurrency: 8, maxRequests: 200_000, maxMs: 120_000 })
      const good = await canaryOf({ id: 'v2', image: v2.image }, 0, first.instances)
      expect(good.outcome, base.lines.join('\n')).toBe('promoted')
      expect(good.steps.map((step) => [step.weight, step.verdict.decision])).toEqual([
        [10, 'pass'],
        [50, 'pass'],
      ])
      // The first step's share of requests went to the new version: about 10% (HAProxy weights).
      const [firstStep] = good.steps
      const share =
        (firstStep?.newer.requests ?? 0) /
        ((firstStep?.newer.requests ?? 0) + (firstStep?.older.requests ?? 1))
      expect(share).toBeGreaterThan(0.05)
      expect(share).toBeLessThan(0.15)
      const completed = await rollout(request({ id: 'v2', image: v2.image }))
      expect(completed.status).toBe('succeeded')
      expect(completed.instances.map((instance) => instance.release)).toEqual(['v2', 'v2'])
      const completedAt = Date.now()
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const calm = await load.stop()
      expect(failures(calm)).toEqual([])
      const after = calm.filter((sample) => sample.start > completedAt)
      expect(after.length).toBeGreaterThan(0)
      expect(new Set(after.map((sample) => versionOf(sample.body)))).toEqual(new Set(['1.1.0']))

      // A release answering 500 to half its requests: the first step (10%) fails on its error
      // rate and the old version serves alone again; only requests the canary answered failed.
      const second = startLoad({ port: gateway.port, concurrency: 8, maxRequests: 200_000, maxMs: 120_000 })
      const bad = await canaryOf({ id: 'v3', image: v3.image }, 1, completed.instances)
      expect(bad.outcome, base.lines.join('\n')).toBe('rolled-back')
      expect(bad.steps).toHaveLength(1)
      expect(bad.steps[0]?.verdict.decision).toBe('fail')
      expect(bad.outcome === 'rolled-back' && bad.reason).toMatch(/step 1 \(10%\) failed: error rate/)
      const afterRollback = Date.now()
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const samples = await second.stop()
      const failed = failures(samples)
      // Every failure is the canary's 500; none after the rollback; the 3.0.0 version answered
      // a bounded share (the step's 10%, held only until judged).
      expect(failed.every((sample) => sample.status === 500)).toBe(true)
      expect(samples.filter((sample) => sample.start > afterRollback && sample.status !== 200)).toEqual([])
      const sawCanary = samples.filter(
        (sample) => sample.status === 500 || versionOf(sample.body) === '3.0.0',
      )
      expect(sawCanary.length / samples.length).toBeLessThan(0.15)
      expect(base.lines.some((line) => line.includes('canary: the old version serves alone again'))).toBe(
        true,
      )
      process.stdout.write(
        `[canary] healthy: ${calm.length} requests, 0 failed, first step ${(share * 100).toFixed(1)}% new; bad: ${bad.steps[0]?.verdict.reason}; ${sawCanary.length} of ${samples.length} requests saw 3.0.0 (${failed.length} failed)\n`,
      )
    } finally {
      await gateway.close()
    }
  })
})
