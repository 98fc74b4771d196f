import type { AppSpec, DeployStrategy } from '@slipway/contracts'
import { resolveBatchSize, resolveCount } from './sizes.ts'

/** A service's `update_config` or `rollback_config` (durations in ms). */
export interface SwarmPolicy {
  parallelism: number
  delayMs: number
  monitorMs: number
  order: 'start-first' | 'stop-first'
  failureAction: 'rollback' | 'pause' | 'continue'
  maxFailureRatio: number
}

/**
 * The Swarm update and rollback policies of an environment's strategy: tasks replaced at once
 * by the same batch rule as the rolling engine, new before old (start-first) unless the
 * strategy allows no surge, any failed task rolls the service back, each batch watched for
 * `monitorSeconds`. The rollback goes the same way and pauses if it fails too.
 */
export function swarmPolicies(
  strategy: DeployStrategy,
  replicas: number,
): { update: SwarmPolicy; rollback: SwarmPolicy } {
  const parallelism = resolveBatchSize(strategy.batchSize, Math.max(1, replicas))
  const order =
    resolveCount(strategy.maxSurge, Math.max(1, replicas), 'ceil') > 0 ? 'start-first' : 'stop-first'
  const monitorMs = Math.round(strategy.monitorSeconds * 1000)
  const base = { parallelism, delayMs: 0, monitorMs, order, maxFailureRatio: 0 } as const
  return {
    update: { ...base, failureAction: 'rollback' },
    rollback: { ...base, failureAction: 'pause' },
  }
}

/** Docker's HEALTHCHECK for a task (run inside its container). */
export interface SwarmHealth {
  shell: string
  intervalMs: number
  timeoutMs: number
  retries: number
  startPeriodMs: number
}

/**
 * Floors of a Swarm health check. Swarm runs each check as a `docker exec` in the task (a
 * process started in its namespaces), far dearer than the rolling engine's own HTTP probe from
 * outside: 12 tasks checked every 200 ms kept a 2-core machine so busy that checks ran past a
 * 1 s timeout, Swarm killed healthy tasks and rolled the service back (bench/scale, 80 of 403
 * kept-alive requests failed). At most one check a second, each given at least 3 s.
 */
const minIntervalMs = 1000
const minTimeoutMs = 3000

/**
 * The app's health check as a command inside the container, where Swarm runs it: an HTTP GET
 * of the path with wget or curl (whichever the image has), or a TCP connect with nc. Any 2xx
 * or 3xx answer is healthy, as with the rolling engine's own probe. Interval and timeout are
 * the app's, raised to the floors above.
 */
export function swarmHealth(app: AppSpec): SwarmHealth {
  const check = app.healthCheck
  // The container's own loopback: the check runs inside the task's network namespace.
  const target = `127.0.0.1:${app.containerPort}`
  const shell =
    check.type === 'http'
      ? `wget -q -O /dev/null 'http://${target}${shellQuoted(check.path)}' || curl -fsS -o /dev/null 'http://${target}${shellQuoted(check.path)}'`
      : `nc -z 127.0.0.1 ${app.containerPort}`
  return {
    shell,
    intervalMs: Math.max(minIntervalMs, Math.round(check.intervalSeconds * 1000)),
    timeoutMs: Math.max(minTimeoutMs, Math.round(check.timeoutSeconds * 1000)),
    retries: check.retries,
    startPeriodMs: Math.round(check.startPeriodSeconds * 1000),
  }
}

/** Inside single quotes: a quote closes, is escaped, and reopens. */
function shellQuoted(text: string): string {
  return text.replaceAll("'", `'\\''`)
}

/** What Swarm reports of one task, as far as the decision below needs. */
export interface TaskView {
  desiredState: string
  state: string
  /** The task runs the spec of this deploy (its spec label matches). */
  current: boolean
}

export type SwarmVerdict =
  | { phase: 'converging' }
  | { phase: 'done' }
  | { phase: 'rolling-back' }
  | { phase: 'rolled-back' }
  | { phase: 'failed'; reason: string }

/**
 * Where a service update stands. `specIsOurs`: the service's spec is still the one this deploy
 * wrote (Swarm puts the previous spec back when it rolls back). `updateState`: the service's
 * UpdateStatus.State when the update began after this deploy's write, else undefined.
 */
export function judgeSwarm(input: {
  specIsOurs: boolean
  updateState: string | undefined
  updateMessage: string | undefined
  replicas: number
  tasks: readonly TaskView[]
}): SwarmVerdict {
  const { updateState } = input
  const wanted = input.tasks.filter((t) => t.desiredState === 'running')
  const runningCurrent = wanted.filter((t) => t.current && t.state === 'running').length
  const runningOther = wanted.filter((t) => !t.current && t.state === 'running').length
  const stopping = input.tasks.filter((t) => t.desiredState !== 'running' && t.state === 'running').length
  if (updateState === 'paused')
    return { phase: 'failed', reason: `Swarm paused the update: ${input.updateMessage ?? 'no reason given'}` }
  if (updateState === 'rollback_paused')
    return {
      phase: 'failed',
      reason: `Swarm paused the rollback too: ${input.updateMessage ?? 'no reason given'}`,
    }
  if (!input.specIsOurs || updateState === 'rollback_started' || updateState === 'rollback_completed') {
    // Back on the previous spec: done once the old tasks serve again and nothing else runs.
    const settled =
      updateState !== 'rollback_started' &&
      runningOther >= input.replicas &&
      runningCurrent === 0 &&
      stopping === 0
    return settled ? { phase: 'rolled-back' } : { phase: 'rolling-back' }
  }
  if (updateState === 'updating') return { phase: 'converging' }
  const settled = runningCurrent === input.replicas && runningOther === 0 && stopping === 0
  return settled ? { phase: 'done' } : { phase: 'converging' }
}
