import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type CanaryThresholds, canaryServerWeights, judgeCanaryStep, type VersionFigures } from './canary.ts'

const thresholds: CanaryThresholds = {
  minRequests: 50,
  maxErrorRate: 0.01,
  maxErrorRateRatio: 2,
  maxP99Ms: 1000,
  maxP99Ratio: 1.5,
}
const step = { weight: 5, holdSeconds: 30, holdRequests: 100, manual: false }
const healthy: VersionFigures = { requests: 2000, errors: 0, p99Ms: 40 }
const judge = (newer: VersionFigures, older: VersionFigures = healthy, elapsedMs = 60_000) =>
  judgeCanaryStep({ step, elapsedMs, newer, older, thresholds })

describe('judgeCanaryStep', () => {
  it('holds until the new version has the minimum of requests, however bad they were', () => {
    expect(judge({ requests: 49, errors: 49, p99Ms: 9000 })).toMatchObject({ decision: 'hold' })
  })

  it('fails on an error rate above the absolute bound as soon as it can judge, before the hold ends', () => {
    expect(judge({ requests: 50, errors: 1, p99Ms: 40 }, healthy, 1000)).toEqual({
      decision: 'fail',
      reason: 'error rate 2.00% (1 of 50) above 1.00%',
    })
  })

  it('fails on an error rate more than the ratio above the old version, under the absolute bound', () => {
    const older = { requests: 10_000, errors: 20, p99Ms: 40 }
    expect(judge({ requests: 1000, errors: 5, p99Ms: 40 }, older)).toMatchObject({ decision: 'fail' })
    expect(judge({ requests: 1000, errors: 4, p99Ms: 40 }, older)).toMatchObject({ decision: 'pass' })
  })

  it('compares with the old version only when it has enough requests', () => {
    const older = { requests: 10, errors: 1, p99Ms: 1 }
    expect(judge({ requests: 1000, errors: 5, p99Ms: 900 }, older)).toMatchObject({ decision: 'pass' })
  })

  it('fails on a p99 above the absolute bound or the ratio of the old version’s', () => {
    expect(judge({ requests: 100, errors: 0, p99Ms: 1200 })).toMatchObject({ decision: 'fail' })
    expect(judge({ requests: 100, errors: 0, p99Ms: 61 })).toEqual({
      decision: 'fail',
      reason: 'p99 61 ms is more than 1.5x the old version’s 40 ms'.replace('’', "'"),
    })
    expect(judge({ requests: 100, errors: 0, p99Ms: 60 })).toMatchObject({ decision: 'pass' })
  })

  it('passes only once both the hold time and the hold requests are reached', () => {
    expect(judge({ requests: 99, errors: 0, p99Ms: 40 })).toMatchObject({ decision: 'hold' })
    expect(judge({ requests: 100, errors: 0, p99Ms: 40 }, healthy, 29_999)).toMatchObject({
      decision: 'hold',
    })
    expect(judge({ requests: 100, errors: 0, p99Ms: 40 }, healthy, 30_000)).toEqual({
      decision: 'pass',
      reason: 'error rate 0.00% (old 0.00%), p99 40 ms over 100 requests',
    })
  })
})

describe('canaryServerWeights', () => {
  it('gives whole weights whose totals keep the share', () => {
    expect(canaryServerWeights(5, 1, 3)).toEqual({ newWeight: 3, oldWeight: 19 })
    expect(canaryServerWeights(50, 2, 2)).toEqual({ newWeight: 1, oldWeight: 1 })
    expect(canaryServerWeights(0, 1, 3)).toEqual({ newWeight: 0, oldWeight: 100 })
    expect(canaryServerWeights(100, 3, 3)).toEqual({ newWeight: 100, oldWeight: 0 })
  })

  it('property: steps up to 50% with no more new servers than old: the new version’s share is within half a percent of the weight', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 20 }),
        (w, n, more) => {
          const o = n + more
          const { newWeight, oldWeight } = canaryServerWeights(w, n, o)
          const share = (n * newWeight) / (n * newWeight + o * oldWeight)
          expect(Math.abs(share - w / 100)).toBeLessThan(0.005)
          expect(newWeight).toBeGreaterThanOrEqual(1)
          expect(oldWeight).toBeLessThanOrEqual(256)
        },
      ),
    )
  })

  it('a new version starved of its share (HAProxy retried its requests elsewhere) fails, before any minimum', () => {
    const verdict = judgeCanaryStep({
      step: { weight: 10, holdSeconds: 30, holdRequests: 100, manual: false },
      elapsedMs: 2000,
      newer: { requests: 3, errors: 0, p99Ms: 5 },
      older: { requests: 900, errors: 0, p99Ms: 5 },
      thresholds,
      share: 0.1,
      retried: 87,
    })
    expect(verdict).toEqual({
      decision: 'fail',
      reason:
        'the new version answered 3 requests where its 10.00% share meant about 90; HAProxy retried 87 requests on other servers (connections refused or closed unanswered)',
    })
    // Too few requests overall to expect its minimum: it holds; at its share it is judged as usual.
    expect(
      judgeCanaryStep({
        step: { weight: 10, holdSeconds: 30, holdRequests: 100, manual: false },
        elapsedMs: 2000,
        newer: { requests: 0, errors: 0, p99Ms: null },
        older: { requests: 100, errors: 0, p99Ms: 5 },
        thresholds,
        share: 0.1,
      }).decision,
    ).toBe('hold')
  })
})

describe('a busier canary instance', () => {
  const slower = {
    step: { weight: 50, holdSeconds: 0, holdRequests: 0, manual: false },
    elapsedMs: 5000,
    newer: { requests: 200, errors: 0, p99Ms: 600 },
    older: { requests: 200, errors: 0, p99Ms: 200 },
    thresholds,
    share: 0.5,
  }

  it('is not failed for its latency against the old version when it carries more requests than an old instance', () => {
    // 50% on 1 new instance beside 2 old: it answers twice what each old one does.
    const verdict = judgeCanaryStep({ ...slower, instances: { newer: 1, older: 2 } })
    expect(verdict.decision).toBe('pass')
    expect(verdict.reason).toMatch(/p99 not compared with the old version's: each new instance carries 2\.0x/)
  })

  it('is compared when it carries no more than an old instance, and the absolute bound always holds', () => {
    expect(judgeCanaryStep({ ...slower, instances: { newer: 1, older: 1 } }).decision).toBe('fail')
    expect(judgeCanaryStep({ ...slower, share: 0.2, instances: { newer: 1, older: 4 } }).decision).toBe(
      'fail',
    )
    const overBound = {
      ...slower,
      newer: { ...slower.newer, p99Ms: 1200 },
      instances: { newer: 1, older: 2 },
    }
    expect(judgeCanaryStep(overBound).reason).toBe('p99 1200 ms above 1000 ms')
  })
})
