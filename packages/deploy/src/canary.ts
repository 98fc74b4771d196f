import { randomBytes } from 'node:crypto'
import type { Instance } from '@slipway/contracts'
import { errorMessage } from '@slipway/core'
import {
  type CanaryStep,
  type CanaryThresholds,
  canaryServerWeights,
  judgeCanaryStep,
  type StepVerdict,
  type VersionFigures,
} from '@slipway/rollout'
import { retireInstance, type SiteContext, startInstance } from './lifecycle.ts'
import { releaseSlug } from './state.ts'
import type { DeployHost } from './types.ts'
import { seconds } from './util.ts'

/** What a canary walks through: its steps and the thresholds every step is judged by. */
export interface CanaryPlan {
  steps: CanaryStep[]
  thresholds: CanaryThresholds
}

/** How one step went: its weights, the figures it was judged on and the verdict. */
interface CanaryStepReport {
  weight: number
  /** HAProxy weights given to the new and to each old server. */
  weights: { newer: number; older: number }
  verdict: StepVerdict
  newer: VersionFigures
  older: VersionFigures
  elapsedMs: number
}

export interface CanaryRequest {
  site: SiteContext
  /** Where the canary instance runs. */
  host: DeployHost
  release: { id: string; image: string }
  /** The live instances of the release being replaced, all in the gateway. */
  live: readonly Instance[]
  plan: CanaryPlan
  /**
   * What the gateway saw from `fromMs` until now: each release's requests, errors and p99 (by
   * release id; the traffic recorder's per-release figures), and the requests HAProxy retried.
   */
  figures(
    fromMs: number,
    signal: AbortSignal,
  ): Promise<{ releases: Record<string, VersionFigures>; retried: number }>
  /** A step marked manual waits here for a person to promote or abort, after it passed. */
  decide?(step: CanaryStep, index: number, signal: AbortSignal): Promise<'promote' | 'abort'>
  /** How often a step is judged (default 1000 ms). */
  pollMs?: number
  signal: AbortSignal
}

export type CanaryResult =
  /** Every step passed: the canary instance serves at weight 1 beside the old ones. */
  | { outcome: 'promoted'; canary: Instance; steps: CanaryStepReport[] }
  /** A step failed (or a person aborted): the old version serves alone again, the canary is gone. */
  | { outcome: 'rolled-back'; reason: string; steps: CanaryStepReport[] }

const none: VersionFigures = { requests: 0, errors: 0, p99Ms: null }

const describe = (figures: VersionFigures) =>
  `${figures.requests} requests, ${figures.errors} errors, p99 ${figures.p99Ms === null ? '-' : `${Math.round(figures.p99Ms)} ms`}`

/**
 * A canary release on Docker hosts: one instance of the new release beside the old ones, given
 * each step's share of requests by HAProxy weights (in place, no reload), judged from what the
 * gateway measured of each version over the step (judgeCanaryStep). A failed step, or a person's
 * abort, takes the canary out (drained) and gives the old version all the traffic again; when
 * every step passed, the canary stays at an equal share and the caller completes the release
 * (a rolling deploy of the new release).
 */
export async function canaryRelease(request: CanaryRequest): Promise<CanaryResult> {
  const { site, plan, signal } = request
  const older = request.live
  const pollMs = request.pollMs ?? 1000
  const steps: CanaryStepReport[] = []
  let canary: Instance | undefined
  let created: Instance | undefined
  const weighAll = (newWeight: number, oldWeight: number) =>
    site.traffic.weigh(
      [
        ...older.map((instance) => ({ ...instance, weight: oldWeight })),
        { ...(canary as Instance), weight: newWeight },
      ],
      signal,
    )
  const rollBack = async (reason: string): Promise<CanaryResult> => {
    site.log(`canary: rolling back: ${reason}`)
    if (canary) {
      // The old version takes every request at once; then the canary leaves and drains.
      await weighAll(0, 1)
      await retireInstance(site, request.host, canary, signal, {
        inTraffic: true,
        drain: true,
        warn: site.log,
      })
    } else if (created) {
      await retireInstance(site, request.host, created, signal, {
        inTraffic: false,
        drain: false,
        warn: site.log,
      })
    }
    await site.traffic.weigh(
      older.map((instance) => ({ ...instance, weight: 1 })),
      signal,
    )
    site.log(`canary: the old version serves alone again (${older.length} instances)`)
    return { outcome: 'rolled-back', reason, steps }
  }

  try {
    const started = await startInstance(
      site,
      request.host,
      {
        id: `${releaseSlug(request.release.id)}-canary-${randomBytes(2).toString('hex')}`,
        release: request.release.id,
        image: request.release.image,
      },
      signal,
      (instance) => {
        created = instance
      },
    )
    // Into the gateway at the first step's share: the old servers' weights first, then the
    // canary added with its own. (Not added at weight 0 and raised later: HAProxy 2.6 added a
    // server so, raised it, and sent it nothing once the old servers had been re-weighted.)
    const first = canaryServerWeights(plan.steps[0]?.weight ?? 0, 1, older.length)
    await site.traffic.weigh(
      older.map((instance) => ({ ...instance, weight: first.oldWeight })),
      signal,
    )
    await site.traffic.add({ ...started.instance, weight: first.newWeight }, signal)
    canary = started.instance
    site.log(
      `canary: ${canary.id} on ${canary.host} healthy in ${seconds(started.healthyMs)}, in the gateway`,
    )
  } catch (error) {
    return rollBack(`the canary instance did not start: ${errorMessage(error)}`)
  }

  for (const [index, step] of plan.steps.entries()) {
    const weights = canaryServerWeights(step.weight, 1, older.length)
    await weighAll(weights.newWeight, weights.oldWeight)
    // Judged on whole seconds that began after the weights were in place (the recorder counts
    // by second).
    const from = Math.ceil(Date.now() / 1000) * 1000
    site.log(
      `canary step ${index + 1}/${plan.steps.length}: ${step.weight}% of requests to ${request.release.id} (HAProxy weights ${weights.newWeight} new, ${weights.oldWeight} on each of ${older.length} old), held ${step.holdSeconds} s and ${step.holdRequests} requests`,
    )
    let verdict: StepVerdict
    let figures: { newer: VersionFigures; older: VersionFigures }
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, pollMs))
      signal.throwIfAborted()
      if (Date.now() < from + 1000) continue
      const seen = await request.figures(from, signal)
      figures = {
        newer: seen.releases[request.release.id] ?? none,
        older: seen.releases[older[0]?.release ?? ''] ?? none,
      }
      verdict = judgeCanaryStep({
        step,
        elapsedMs: Date.now() - from,
        newer: figures.newer,
        older: figures.older,
        thresholds: plan.thresholds,
        share: step.weight / 100,
        retried: seen.retried,
      })
      if (verdict.decision !== 'hold') break
    }
    const report = {
      weight: step.weight,
      weights: { newer: weights.newWeight, older: weights.oldWeight },
      verdict,
      ...figures,
      elapsedMs: Date.now() - from,
    }
    steps.push(report)
    site.log(
      `canary step ${index + 1}: ${verdict.decision.toUpperCase()} after ${seconds(report.elapsedMs)}: ${verdict.reason} (new: ${describe(figures.newer)}; old: ${describe(figures.older)})`,
    )
    if (verdict.decision === 'fail')
      return rollBack(`step ${index + 1} (${step.weight}%) failed: ${verdict.reason}`)
    if (step.manual) {
      if (!request.decide) return rollBack(`step ${index + 1} waits for a person, and none can decide here`)
      site.log(`canary step ${index + 1}: waiting for a person to promote or abort`)
      const decision = await request.decide(step, index, signal)
      if (decision === 'abort') return rollBack(`aborted by a person at step ${index + 1} (${step.weight}%)`)
      site.log(`canary step ${index + 1}: promoted by a person`)
    }
  }
  await weighAll(1, 1)
  site.log(`canary: every step passed; ${request.release.id} serves beside the old version at an equal share`)
  return { outcome: 'promoted', canary: canary as Instance, steps }
}
