/**
 * Canary analysis: whether one step of a canary release passes, fails or must wait, from what
 * the gateway counted for each version over the same window.
 */

import type { CanaryFigures, CanaryStep, CanaryThresholds } from '@slipway/contracts'

/** What the gateway saw of one version over the step's window. */
export type VersionFigures = CanaryFigures
export type { CanaryStep, CanaryThresholds }

export type StepVerdict =
  | { decision: 'hold'; reason: string }
  | { decision: 'pass'; reason: string }
  | { decision: 'fail'; reason: string }

const percent = (rate: number) => `${(rate * 100).toFixed(2)}%`

/**
 * The verdict of a step so far. A failure is decided as soon as the new version has
 * `minRequests` (a bad release is rolled back without waiting out the hold); a pass only once
 * the hold's time and requests are both reached with no threshold crossed. Error rates are
 * compared with the old version's only when the old one has `minRequests` too.
 */
export function judgeCanaryStep(input: {
  step: CanaryStep
  elapsedMs: number
  newer: VersionFigures
  older: VersionFigures
  thresholds: CanaryThresholds
  /**
   * The new version's intended share of requests (0..1) and the requests HAProxy retried on
   * another server over the window: a new version that refuses connections or closes them
   * unanswered gets its requests retried elsewhere (users see nothing) and would otherwise
   * only ever wait for its minimum of requests.
   */
  share?: number
  retried?: number
  /**
   * How many instances serve each version. Where the share gives each new instance more
   * requests than an old one gets (50% on 1 new beside 2 old: twice as many), its latency is
   * not compared with the old version's: a busier instance is slower without being worse.
   * The absolute bound still holds.
   */
  instances?: { newer: number; older: number }
}): StepVerdict {
  const { step, newer, older, thresholds: t } = input
  const expected = (newer.requests + older.requests) * (input.share ?? 0)
  if (expected >= t.minRequests && newer.requests < expected / 4)
    return {
      decision: 'fail',
      reason: `the new version answered ${newer.requests} requests where its ${percent(input.share ?? 0)} share meant about ${Math.round(expected)}; HAProxy retried ${input.retried ?? 0} requests on other servers (connections refused or closed unanswered)`,
    }
  if (newer.requests < t.minRequests)
    return {
      decision: 'hold',
      reason: `${newer.requests} of ${t.minRequests} requests to the new version before judging`,
    }
  const newRate = newer.errors / newer.requests
  const oldJudged = older.requests >= t.minRequests
  const oldRate = oldJudged ? older.errors / older.requests : undefined
  if (newRate > t.maxErrorRate)
    return {
      decision: 'fail',
      reason: `error rate ${percent(newRate)} (${newer.errors} of ${newer.requests}) above ${percent(t.maxErrorRate)}`,
    }
  // Relative to the old version: only where both erred (an old rate of 0 makes any error a
  // ratio of infinity, which the absolute bound already judges).
  if (oldRate !== undefined && oldRate > 0 && newRate > oldRate * t.maxErrorRateRatio)
    return {
      decision: 'fail',
      reason: `error rate ${percent(newRate)} is more than ${t.maxErrorRateRatio}x the old version's ${percent(oldRate)}`,
    }
  if (newer.p99Ms !== null && t.maxP99Ms !== null && newer.p99Ms > t.maxP99Ms)
    return { decision: 'fail', reason: `p99 ${Math.round(newer.p99Ms)} ms above ${t.maxP99Ms} ms` }
  const share = input.share ?? 0
  const loadRatio =
    input.instances && share < 1 && input.instances.newer > 0
      ? ((share / (1 - share)) * input.instances.older) / input.instances.newer
      : 1
  if (
    newer.p99Ms !== null &&
    loadRatio <= 1 &&
    oldJudged &&
    older.p99Ms !== null &&
    older.p99Ms > 0 &&
    newer.p99Ms > older.p99Ms * t.maxP99Ratio
  )
    return {
      decision: 'fail',
      reason: `p99 ${Math.round(newer.p99Ms)} ms is more than ${t.maxP99Ratio}x the old version's ${Math.round(older.p99Ms)} ms`,
    }
  const needRequests = Math.max(step.holdRequests, t.minRequests)
  if (input.elapsedMs < step.holdSeconds * 1000 || newer.requests < needRequests)
    return {
      decision: 'hold',
      reason: `${Math.floor(input.elapsedMs / 1000)} of ${step.holdSeconds} s, ${newer.requests} of ${needRequests} requests`,
    }
  return {
    decision: 'pass',
    reason: `error rate ${percent(newRate)}${oldRate === undefined ? '' : ` (old ${percent(oldRate)})`}, p99 ${newer.p99Ms === null ? '-' : `${Math.round(newer.p99Ms)} ms`} over ${newer.requests} requests${loadRatio > 1 ? ` (p99 not compared with the old version's: each new instance carries ${loadRatio.toFixed(1)}x an old one's requests)` : ''}`,
  }
}

/**
 * HAProxy server weights (0..256) that give the new version `weight` percent of requests,
 * spread over `newCount` new and `oldCount` old servers: each server of a version gets the
 * same weight, and the totals keep the ratio as closely as whole weights allow.
 */
export function canaryServerWeights(
  weight: number,
  newCount: number,
  oldCount: number,
): { newWeight: number; oldWeight: number } {
  if (weight <= 0 || newCount === 0) return { newWeight: 0, oldWeight: oldCount ? 100 : 0 }
  if (weight >= 100 || oldCount === 0) return { newWeight: 100, oldWeight: 0 }
  // new share = (newCount * w_new) / (newCount * w_new + oldCount * w_old) = weight / 100
  let best = { newWeight: 1, oldWeight: 256, error: Number.POSITIVE_INFINITY }
  for (let oldWeight = 1; oldWeight <= 256; oldWeight++) {
    const exact = (weight * oldCount * oldWeight) / ((100 - weight) * newCount)
    for (const newWeight of [Math.floor(exact), Math.ceil(exact)]) {
      if (newWeight < 1 || newWeight > 256) continue
      const share = (newCount * newWeight) / (newCount * newWeight + oldCount * oldWeight)
      const error = Math.abs(share - weight / 100)
      if (error < best.error - 1e-12) best = { newWeight, oldWeight, error }
    }
  }
  return { newWeight: best.newWeight, oldWeight: best.oldWeight }
}
