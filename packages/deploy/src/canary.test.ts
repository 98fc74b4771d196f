import { demoImage, integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { type CanaryPlan, type CanaryRequest, canaryRelease } from './canary.ts'
import { rollout } from './rollout.ts'
import {
  answersSlowly,
  demoApp,
  demoRequest,
  deployHosts,
  failsHalf,
  failures,
  recordedFigures,
  releasesOn,
  type SiteFixtures,
  siteOn,
  startLoad,
  strategy,
  versionOf,
  withLeases,
} from './test-support/index.ts'

const plan: CanaryPlan = {
  steps: [
    { weight: 10, holdSeconds: 3, holdRequests: 40, manual: false },
    { weight: 50, holdSeconds: 3, holdRequests: 40, manual: false },
  ],
  thresholds: { minRequests: 20, maxErrorRate: 0.05, maxErrorRateRatio: 2, maxP99Ms: null, maxP99Ratio: 10 },
}

type Release = { id: string; image: string }

/**
 * A site of the test's own on prod-1 and prod-2 behind the real gateway with its recorder on,
 * v1.0.0 live on 2 instances; `canaryOf` starts a canary beside them, `load` 8 kept-alive
 * clients. The caller closes `gateway`.
 */
async function liveSite(fixtures: SiteFixtures & { db: Parameters<typeof withLeases>[0] }) {
  const hosts = deployHosts(['prod-1', 'prod-2'])
  const { project, environment, gateway, base } = await withLeases(
    fixtures.db,
    await siteOn(fixtures, hosts, { record: true, ttlSeconds: 600 }),
  )
  const figures = recordedFigures(fixtures.redis, fixtures.redisPrefix, project, environment)
  const request = (release: Release) => demoRequest(base, release, 2, { strategy: strategy() })
  try {
    const first = await rollout(request({ id: 'v1', image: (await demoImage({ ref: 'v1.0.0' })).image }))
    expect(first.status, base.lines.join('\n')).toBe('succeeded')
    /** The canary of `release` on hosts[host], beside `live` (default: the v1 instances). */
    const canaryOf = (release: Release, host: 0 | 1, change: Partial<CanaryRequest> = {}) => {
      const { hosts: _, replicas: __, release: ___, ...rest } = request(release)
      return canaryRelease({
        site: { ...rest, app: demoApp },
        host: hosts[host] as (typeof hosts)[number],
        release,
        live: first.instances,
        plan,
        figures,
        pollMs: 500,
        signal: AbortSignal.timeout(90_000),
        ...change,
      })
    }
    const load = () => startLoad({ port: gateway.port, concurrency: 8, maxRequests: 200_000, maxMs: 120_000 })
    return { hosts, project, environment, gateway, base, request, canaryOf, load }
  } catch (error) {
    await gateway.close()
    throw error
  }
}

/** The load's samples, after 1 s more of it. */
async function afterCalm(load: ReturnType<typeof startLoad>) {
  await new Promise((resolve) => setTimeout(resolve, 1000))
  return load.stop()
}

describe('canary releases on prod-1 and prod-2 behind the real gateway, judged by what it measured', () => {
  test('a healthy release walks every step and completes with 0 failed requests; a release failing half its requests is rolled back at the first step', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    const images = Promise.all([
      demoImage({ ref: 'v1.1.0' }),
      demoImage({ ref: 'v1.1.0', version: '3.0.0', patch: failsHalf }),
    ])
    const { gateway, base, request, canaryOf, load } = await liveSite({
      fleet,
      redis,
      redisPrefix,
      db,
      testId,
    })
    try {
      const [v2, v3] = await images
      // A healthy release under 8 kept-alive clients: every step passes, then the rolling
      // completion; not one failed request.
      const clients = load()
      const good = await canaryOf({ id: 'v2', image: v2.image }, 0)
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
      const calm = await afterCalm(clients)
      expect(failures(calm)).toEqual([])
      const after = calm.filter((sample) => sample.start > completedAt)
      expect(after.length).toBeGreaterThan(0)
      expect(new Set(after.map((sample) => versionOf(sample.body)))).toEqual(new Set(['1.1.0']))

      // A release answering 500 to half its requests: the first step (10%) fails on its error
      // rate and the old version serves alone again; only requests the canary answered failed.
      const second = load()
      const bad = await canaryOf({ id: 'v3', image: v3.image }, 1, { live: completed.instances })
      expect(bad.outcome, base.lines.join('\n')).toBe('rolled-back')
      expect(bad.steps).toHaveLength(1)
      expect(bad.steps[0]?.verdict.decision).toBe('fail')
      expect(bad.outcome === 'rolled-back' && bad.reason).toMatch(/step 1 \(10%\) failed: error rate/)
      const afterRollback = Date.now()
      const samples = await afterCalm(second)
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

  test('a slow release (its p99 over the threshold) is rolled back at the first step', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    // Every answer 300 ms late: slow, never failed.
    const image = demoImage({ ref: 'v1.1.0', version: '3.1.0', patch: answersSlowly(300) })
    const { gateway, base, canaryOf, load } = await liveSite({ fleet, redis, redisPrefix, db, testId })
    try {
      const slow = await image
      const clients = load()
      const result = await canaryOf({ id: 'v3', image: slow.image }, 0, {
        plan: { ...plan, thresholds: { ...plan.thresholds, maxP99Ms: 150 } },
      })
      expect(result.outcome, base.lines.join('\n')).toBe('rolled-back')
      expect(result.steps).toHaveLength(1)
      expect(result.steps[0]?.verdict.decision).toBe('fail')
      expect(result.outcome === 'rolled-back' && result.reason).toMatch(
        /step 1 \(10%\) failed: p99 \d+ ms above 150 ms/,
      )
      const afterRollback = Date.now()
      const samples = await afterCalm(clients)
      // A slow answer is not a failure; the slow version answered a bounded share, and nothing
      // after the rollback.
      expect(failures(samples)).toEqual([])
      const sawCanary = samples.filter((sample) => versionOf(sample.body) === '3.1.0')
      expect(sawCanary.length).toBeGreaterThan(0)
      expect(sawCanary.length / samples.length).toBeLessThan(0.15)
      expect(sawCanary.filter((sample) => sample.start > afterRollback)).toEqual([])
      process.stdout.write(
        `[canary] slow: ${result.steps[0]?.verdict.reason} after ${(result.steps[0]?.elapsedMs ?? 0) / 1000} s; ${sawCanary.length} of ${samples.length} requests saw 3.1.0, 0 failed\n`,
      )
    } finally {
      await gateway.close()
    }
  })

  test('a deploy stopped mid-canary (canceled, its time limit, a worker shutting down) takes the canary out: 0 failed requests', async ({
    fleet,
    redis,
    redisPrefix,
    db,
    testId,
  }) => {
    const image = demoImage({ ref: 'v1.1.0' })
    const { hosts, project, environment, gateway, base, canaryOf, load } = await liveSite({
      fleet,
      redis,
      redisPrefix,
      db,
      testId,
    })
    try {
      const v2 = await image
      const stop = new AbortController()
      const clients = load()
      const stopped = canaryOf({ id: 'v2', image: v2.image }, 0, {
        plan: { ...plan, steps: [{ weight: 25, holdSeconds: 60, holdRequests: 40, manual: false }] },
        signal: stop.signal,
        // Stopped 1.5 s into the step's judging, as a cancel would.
        progress: (state) => {
          if (state.phase === 'judging') setTimeout(() => stop.abort(new Error('canceled')), 1500).unref()
        },
      })
      await expect(stopped).rejects.toThrow()
      const afterStop = Date.now()
      const samples = await afterCalm(clients)
      expect(base.lines.some((line) => line.includes('canary: rolling back: the deploy was stopped'))).toBe(
        true,
      )
      expect(failures(samples)).toEqual([])
      expect(samples.some((sample) => versionOf(sample.body) === '1.1.0')).toBe(true)
      const after = samples.filter((sample) => sample.start > afterStop)
      expect(after.length).toBeGreaterThan(0)
      expect(new Set(after.map((sample) => versionOf(sample.body)))).toEqual(new Set(['1.0.0']))
      // The canary's container is gone: only the old instance runs on its host.
      expect(await releasesOn((hosts[0] as (typeof hosts)[number]).driver, project, environment)).toEqual([
        'running:v1',
      ])
    } finally {
      await gateway.close()
    }
  })
})
