import type { AppSpec, DeployStrategy, ErrorCode, Instance } from '@slipway/contracts'
import type { DockerHost, RegistryAuth, RestartPolicy } from '@slipway/docker'

/**
 * Moves gateway traffic to and from instances. Implemented by @slipway/gateway (discovery
 * registry + nginx); the executor only ever talks to this interface.
 */
export interface TrafficSwitch {
  /** Resolves once the gateway routes new requests to the instance; throws if it cannot. */
  add(instance: Instance, signal: AbortSignal): Promise<void>
  /** Resolves once the gateway no longer routes new requests to the instance. */
  remove(instance: Instance, signal: AbortSignal): Promise<TrafficChange>
  /**
   * One gateway change: resolves once the gateway routes new requests to every one of
   * `adding` and to none of `removing`; throws (with `removing` still served) if it cannot.
   */
  swap(
    adding: readonly Instance[],
    removing: readonly Instance[],
    signal: AbortSignal,
  ): Promise<TrafficChange>
}

/** A gateway change that took instances out. */
export interface TrafficChange {
  /**
   * Resolves true once the requests the gateway had in flight before the change have all
   * finished, false when `maxMs` passed first (or the gateway cannot tell).
   */
  drained(maxMs: number, signal: AbortSignal): Promise<boolean>
}

export interface DeployHost {
  name: string
  driver: DockerHost
}

/** Everything a rollout needs; the caller (the worker's deploy stage) gathers it. */
export interface RolloutRequest {
  /** Project slug and environment name: labels, container names and discovery keys. */
  project: string
  environment: string
  /** The release to run: its id and image by digest (registry/repo@sha256:...). */
  release: { id: string; image: string }
  /** The environment's hosts; instances are spread evenly over them. */
  hosts: DeployHost[]
  /** Desired instances across all hosts. */
  replicas: number
  app: AppSpec
  /** Container environment: ENVT, PROJ, config variables and secrets of the release. */
  env: Record<string, string>
  strategy: DeployStrategy
  registryAuth?: RegistryAuth
  traffic: TrafficSwitch
  signal: AbortSignal
  /** One line of the stage log (the caller masks secrets). */
  log(line: string): void
  /** Hosts that left the environment: their instances are retired (added to the request). */
  formerHosts?: DeployHost[]
  /** Extra labels on every container started (e.g. a test id). */
  labels?: Record<string, string>
  /** Restart policy of the containers (default unless-stopped). */
  restartPolicy?: RestartPolicy
  /** Pulls at once during the pre-pull (default 8). */
  pullConcurrency?: number
}

/** How one batch went (times in ms since the rollout began, durations in ms). */
export interface BatchReport {
  phase: 'rollout' | 'rollback'
  index: number
  started: string[]
  retired: string[]
  atMs: number
  /** From the batch's start until every new instance was running and healthy. */
  healthyMs: number
  /** From the batch's start until every new instance was in the gateway. */
  servingMs?: number
  /** From the batch's start until its old instances were out, drained, stopped and removed. */
  doneMs?: number
}

export interface HostReport {
  host: string
  pullMs?: number
  /** Why the host was left out of this rollout (pull failed, down). */
  skipped?: string
}

/** What `rollout()` returns; it never throws for a failed rollout. */
export interface RolloutResult {
  status: 'succeeded' | 'failed'
  /** Set when failed: a stable code and the precise reason. */
  error?: { code: ErrorCode; message: string; host?: string }
  /** True when a rollback ran; `rollbackError` says if it could not finish. */
  rolledBack: boolean
  rollbackError?: { code: ErrorCode; message: string }
  /** The instances running at the end (the new release, or the previous one after rollback). */
  instances: Instance[]
  batches: BatchReport[]
  hosts: HostReport[]
  /** Problems that did not fail the rollout (e.g. a container left on a host that went down). */
  warnings: string[]
  durationMs: number
}
