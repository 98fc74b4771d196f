import type { AppSpec, DeployStrategy, Instance } from '@slipway/contracts'
import type { DockerHost, RegistryAuth } from '@slipway/docker'

/**
 * Moves gateway traffic to and from instances. Implemented by @slipway/gateway (discovery
 * registry + nginx); the executor only ever talks to this interface.
 */
export interface TrafficSwitch {
  /** Resolves once the gateway routes new requests to the instance; throws if it cannot. */
  add(instance: Instance, signal: AbortSignal): Promise<void>
  /** Resolves once the gateway no longer routes new requests to the instance. */
  remove(instance: Instance, signal: AbortSignal): Promise<void>
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
}
