import type { AppSpec, DeployStrategy, ErrorCode, Instance } from '@slipway/contracts'
import type { DockerHost, RegistryAuth, RestartPolicy } from '@slipway/docker'

/**
 * Moves gateway traffic to and from instances. Implemented by @slipway/gateway (discovery
 * registry + HAProxy); the executor only ever talks to this interface.
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
  /** Resolves once the gateway routes to these instances by the weights they carry (absent: 1). */
  weigh(instances: readonly Instance[], signal: AbortSignal): Promise<void>
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
  /**
   * Where the host's instances are reached (an IPv4 or IPv6 literal, the host record's
   * address): health checks dial it, instances carry it to the gateway.
   */
  address: string
  driver: DockerHost
}

/**
 * Ports of a host's own network for host-network instances: Docker cannot see clashes there,
 * so they are leased per host (implemented over PostgreSQL by @slipway/runs' createHostPorts).
 * `instance` is the instance's container name, unique on its host.
 */
export interface HostPorts {
  /** A port of `host` no other instance holds, leased to `instance` until released. */
  allocate(host: string, instance: string, signal: AbortSignal): Promise<number>
  /** Frees the port if `instance` still holds it. */
  release(host: string, port: number, instance: string): Promise<void>
  /** Every lease on `host`, for reconcile to free those whose container is gone. */
  leases(host: string): Promise<{ port: number; instance: string; createdAt: Date }[]>
}

/** What the gateway's discovery registry holds (structurally @slipway/gateway's DiscoveryRegistry). */
export interface RegisteredInstances {
  list(project: string, environment: string, options?: { signal?: AbortSignal }): Promise<Instance[]>
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
  /** Host-network ports: allocated before a start, released once the container is gone. */
  ports: HostPorts
  /**
   * The discovery registry: a stopped bridge container has lost its published port (Docker
   * chooses one at each start), so the instance to take out of the gateway is found there.
   */
  registry?: RegisteredInstances
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
