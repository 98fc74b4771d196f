import type { DeployStrategy } from '@slipway/contracts'

/** An instance running now, as discovered from container labels on the hosts. */
export interface ExistingInstance {
  id: string
  host: string
  release: string
}

/** The parts of a `DeployStrategy` the planner uses. */
export type PlanStrategy = Pick<DeployStrategy, 'batchSize' | 'maxSurge' | 'maxUnavailable'>

export interface PlanInput {
  /** The environment's hosts, in order. Instances are spread evenly over them. */
  hosts: readonly string[]
  /** Hosts of `hosts` left out of this rollout (e.g. their pull failed): they get no instance. */
  excludedHosts?: readonly string[]
  /** Every instance of the environment running now, whatever its release or host. */
  instances: readonly ExistingInstance[]
  /** The release to run. */
  release: string
  /** Desired instances of `release` across the eligible hosts. */
  replicas: number
  strategy: PlanStrategy
  /** New instance ids are `<idPrefix><n>`, skipping ids in use (default `<release>-`). */
  idPrefix?: string
}

/** Why an instance leaves. */
export type RetireReason =
  /** Runs another release and is replaced by a new instance. */
  | 'replaced'
  /** More instances than wanted (scale down, or uneven spread). */
  | 'surplus'
  /** Its host left the environment or was left out of this rollout. */
  | 'host-removed'
  /** A rollback removes an instance the failed rollout started. */
  | 'rolled-back'

export interface PlannedStart {
  id: string
  host: string
  release: string
  /** The instance this one takes over from (retired in the same batch), if any. */
  replaces?: string
}

export interface PlannedRetire extends ExistingInstance {
  reason: RetireReason
}

/**
 * One step of a rollout. The executor runs it in this order: retire `retireFirst` (only when
 * `maxSurge` forces it, bounded by `maxUnavailable`); start every `start` and wait until each
 * is healthy and in the gateway; then retire `retire` (out of the gateway, drain, stop).
 */
export interface PlanBatch {
  index: number
  retireFirst: PlannedRetire[]
  start: PlannedStart[]
  retire: PlannedRetire[]
}

export interface RolloutPlan {
  release: string
  replicas: number
  /** Hosts that may run instances of `release` (environment hosts minus excluded ones). */
  hosts: string[]
  /** Instances of `release` per host at the end. */
  placement: Record<string, number>
  /** Hosts that need the image before the first batch: those that start an instance. */
  prePull: string[]
  /** Instances of `release` already in place, left alone. */
  keep: ExistingInstance[]
  batches: PlanBatch[]
  /** Resolved strategy, in instances. */
  batchSize: number
  maxSurge: number
  maxUnavailable: number
  /** Serving instances never drop below this. */
  minServing: number
  /** Running instances never exceed this while new ones start. */
  maxRunning: number
}

/** Input the planner refuses (no host for the replicas, no room to replace anything...). */
export class PlanError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PlanError'
  }
}
