import { randomBytes } from 'node:crypto'
import type { CanaryPhase, CanaryStepReport, CanaryStrategy, Instance } from '@slipway/contracts'
import { errorMessage } from '@slipway/core'
import { canaryServerWeights, judgeCanaryStep, type StepVerdict, type VersionFigures } from '@slipway/rollout'
import { retireInstance, type SiteContext, startInstance } from './lifecycle.ts'
import { rollout } from './rollout.ts'
import { releaseSlug } from './state.ts'
import type { DeployHost, RolloutRequest, RolloutResult } from './types.ts'
import { seconds } from './util.ts'

/** What a canary walks through: its steps and the thresholds every step is judged by. */
export type CanaryPlan = Pick<CanaryStrategy, 'steps' | 'thresholds'>

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
  /**
   * A person's command, asked at every poll: `abort` rolls back at once (in any step);
   * `promote` lets a manual step that passed go on. Null: none yet. Without it a manual step
   * cannot go on and is rolled back.
   */
  command?(signal: AbortSignal): Promise<CanaryCommand | null>
  /** Told whenever the canary's state changes (weights, a verdict, waiting for a person). */
  progress?(state: CanaryProgress): void
  /** How often a step is judged (default 1000 ms). */
  pollMs?: number
  signal: AbortSignal
}

/** What a person can tell a running canary. */
export type CanaryCommand = { action: 'promote' | 'abort'; by: string }

/** Where a canary stands, for the pipeline page. */
export interface CanaryProgress {
  phase: CanaryPhase
  /** The step being judged or waited on (0-based); the steps' count when promoted. */
  step: number
  /** The new version's share of requests now (percent). */
  weight: number
  /** HAProxy weights now: the canary's and each old server's. */
  weights: { newer: number; older: number }
  /** The judged steps so far. */
  steps: CanaryStepReport[]
  /** The verdict of the step being judged, while it holds. */
  holding?: string
  /** Each version's figures over the step being judged so far. */
  current?: { newer: VersionFigures; older: VersionFigures }
  /** Why the canary was rolled back. */
  reason?: string
}

export type CanaryResult =
  /** Every step passed: the canary instance serves at weight 1 beside the old ones. */
  | { outcome: 'promoted'; canary: Instance; steps: CanaryStepReport[] }
  /** A step failed (or a person aborted): the old version serves alone again, the canary is gone. */
  | { outcome: 'rolled-back'; reason: string; aborted: boolean; steps: CanaryStepReport[] }

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
  let state: CanaryProgress = {
    phase: 'starting',
    step: 0,
    weight: 0,
    weights: { newer: 0, older: 1 },
    steps,
  }
  const tell = (change: Partial<CanaryProgress>) => {
    state = { ...state, ...change, steps: [...steps] }
    request.progress?.(state)
  }
  // A rollback after the deploy was stopped (canceled, its time limit, the worker shutting
  // down) still takes the canary out, on a signal of its own.
  const ending = () => (signal.aborted ? AbortSignal.timeout(120_000) : signal)
  const weighAll = async (weight: number, weights: { newer: number; older: number }) => {
    await site.traffic.weigh(
      [
        ...older.map((instance) => ({ ...instance, weight: weights.older })),
        { ...(canary as Instance), weight: weights.newer },
      ],
      ending(),
    )
    tell({ weight, weights })
  }
  const rollBack = async (reason: string, aborted = false): Promise<CanaryResult> => {
    site.log(`canary: rolling back: ${reason}`)
    if (canary) {
      // The old version takes every request at once; then the canary leaves and drains.
      await weighAll(0, { newer: 0, older: 1 })
      await retireInstance(site, request.host, canary, ending(), {
        inTraffic: true,
        drain: true,
        warn: site.log,
      })
    } else if (created) {
      await retireInstance(site, request.host, created, ending(), {
        inTraffic: false,
        drain: false,
        warn: site.log,
      })
    }
    await site.traffic.weigh(
      older.map((instance) => ({ ...instance, weight: 1 })),
      ending(),
    )
    site.log(`canary: the old version serves alone again (${older.length} instances)`)
    tell({ phase: 'rolled-back', weight: 0, weights: { newer: 0, older: 1 }, reason, holding: undefined })
    return { outcome: 'rolled-back', reason, aborted, steps }
  }
  /** A person's command, if any (a failure to ask is logged and asked again next poll). */
  const asked = async (): Promise<CanaryCommand | null> => {
    if (!request.command) return null
    try {
      return await request.command(signal)
    } catch (error) {
      signal.throwIfAborted()
      site.log(`canary: could not read a person's command (asked again): ${errorMessage(error)}`)
      return null
    }
  }
  const pause = () => new Promise((resolve) => setTimeout(resolve, pollMs))

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
    return rollBackAfter(error, 'the canary instance did not start')
  }

  try {
    return await walk()
  } catch (error) {
    return rollBackAfter(error, 'the canary could not go on')
  }

  /**
   * Stopped (the deploy's signal) or broken: the old version serves alone again either way; a
   * stop is thrown on once the canary is out, a failure is the result.
   */
  async function rollBackAfter(error: unknown, what: string): Promise<CanaryResult> {
    const result = await rollBack(
      signal.aborted
        ? `the deploy was stopped (${errorMessage(signal.reason)})`
        : `${what}: ${errorMessage(error)}`,
    )
    if (signal.aborted) throw error
    return result
  }

  async function walk(): Promise<CanaryResult> {
    for (const [index, step] of plan.steps.entries()) {
      const weights = canaryServerWeights(step.weight, 1, older.length)
      tell({ phase: 'judging', step: index, holding: undefined, current: undefined })
      await weighAll(step.weight, { newer: weights.newWeight, older: weights.oldWeight })
      // Judged on whole seconds that began after the weights were in place (the recorder counts
      // by second).
      const from = Math.ceil(Date.now() / 1000) * 1000
      site.log(
        `canary step ${index + 1}/${plan.steps.length}: ${step.weight}% of requests to ${request.release.id} (HAProxy weights ${weights.newWeight} new, ${weights.oldWeight} on each of ${older.length} old), held ${step.holdSeconds} s and ${step.holdRequests} requests`,
      )
      let verdict: StepVerdict
      let figures: { newer: VersionFigures; older: VersionFigures }
      for (;;) {
        await pause()
        signal.throwIfAborted()
        const command = await asked()
        if (command?.action === 'abort')
          return rollBack(`aborted by ${command.by} at step ${index + 1} (${step.weight}%)`, true)
        if (Date.now() < from + 1000) continue
        let seen: Awaited<ReturnType<CanaryRequest['figures']>>
        try {
          seen = await request.figures(from, signal)
        } catch (error) {
          signal.throwIfAborted()
          // Redis restarting: the step waits (a canary is not judged on figures it cannot read).
          site.log(`canary: could not read the gateway's figures (asked again): ${errorMessage(error)}`)
          continue
        }
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
          instances: { newer: 1, older: older.length },
        })
        if (verdict.decision !== 'hold') break
        tell({ holding: verdict.reason, current: figures })
      }
      const report = {
        weight: step.weight,
        weights: { newer: weights.newWeight, older: weights.oldWeight },
        verdict,
        ...figures,
        elapsedMs: Date.now() - from,
      }
      steps.push(report)
      tell({ holding: undefined, current: figures })
      site.log(
        `canary step ${index + 1}: ${verdict.decision.toUpperCase()} after ${seconds(report.elapsedMs)}: ${verdict.reason} (new: ${describe(figures.newer)}; old: ${describe(figures.older)})`,
      )
      if (verdict.decision === 'fail')
        return rollBack(`step ${index + 1} (${step.weight}%) failed: ${verdict.reason}`)
      if (step.manual) {
        if (!request.command)
          return rollBack(`step ${index + 1} waits for a person, and none can decide here`)
        site.log(`canary step ${index + 1}: waiting for a person to promote or abort`)
        tell({ phase: 'waiting', holding: undefined })
        for (;;) {
          const command = await asked()
          if (command?.action === 'abort')
            return rollBack(`aborted by ${command.by} at step ${index + 1} (${step.weight}%)`, true)
          if (command?.action === 'promote') {
            site.log(`canary step ${index + 1}: promoted by ${command.by}`)
            break
          }
          await pause()
          signal.throwIfAborted()
        }
      }
    }
    await weighAll(100, { newer: 1, older: 1 })
    site.log(
      `canary: every step passed; ${request.release.id} serves beside the old version at an equal share`,
    )
    tell({ phase: 'promoted', step: plan.steps.length, holding: undefined })
    return { outcome: 'promoted', canary: canary as Instance, steps }
  }
}

/** What a canary deploy asks of its caller beyond a rollout's request. */
export interface CanaryHooks {
  figures: CanaryRequest['figures']
  command?: CanaryRequest['command']
  progress?: CanaryRequest['progress']
  /** How often a step is judged (default 1000 ms). */
  pollMs?: number
}

/**
 * A deploy by the environment's canary strategy (`request.strategy.canary`): the canary steps
 * beside the live release, then the rolling replacement of the rest (the canary instance stays,
 * one of the new release's replicas). Rolls at once, saying why, where a canary cannot compare
 * two versions: no release serves yet, or the instances in the gateway are of several releases
 * (an earlier deploy left unfinished) or already of this one.
 */
export async function canaryDeploy(request: RolloutRequest, hooks: CanaryHooks): Promise<RolloutResult> {
  const began = Date.now()
  const strategy = request.strategy.canary
  if (!strategy) return rollout(request)
  const serving = request.registry
    ? await request.registry.list(request.project, request.environment, { signal: request.signal })
    : []
  const live = serving.filter((instance) => request.hosts.some((host) => host.name === instance.host))
  const releases = new Set(live.map((instance) => instance.release))
  const why = !live.length
    ? 'no release serves yet'
    : releases.has(request.release.id)
      ? `${request.release.id} serves already`
      : releases.size > 1
        ? `the gateway serves ${releases.size} releases (an earlier deploy did not finish)`
        : undefined
  if (why) {
    request.log(`canary: not run, ${why}: rolling at once`)
    return rollout(request)
  }
  // The canary goes to the host serving the fewest instances of the old release.
  const load = (host: DeployHost) => live.filter((instance) => instance.host === host.name).length
  const host = [...request.hosts].sort((a, b) => load(a) - load(b))[0] as DeployHost
  request.log(
    `canary of ${request.release.id} beside ${live.length} instance(s) of ${live[0]?.release}: ${strategy.steps.map((step) => `${step.weight}%${step.manual ? ' (manual)' : ''}`).join(', ')}, then the rolling deploy`,
  )
  const canary = await canaryRelease({
    site: request,
    host,
    release: request.release,
    live,
    plan: strategy,
    ...hooks,
    signal: request.signal,
  })
  if (canary.outcome === 'rolled-back')
    return {
      status: 'failed',
      error: { code: canary.aborted ? 'CANCELED' : 'CANARY_FAILED', message: `canary: ${canary.reason}` },
      rolledBack: true,
      instances: [...live],
      batches: [],
      hosts: [],
      warnings: [],
      durationMs: Date.now() - began,
    }
  const completed = await rollout(request)
  return { ...completed, durationMs: Date.now() - began }
}
