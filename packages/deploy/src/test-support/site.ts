import { AppSpec, DeployStrategy } from '@slipway/contracts'
import { DockerodeHost, type RegistryAuth } from '@slipway/docker'
import { fleetHost } from '@slipway/testing/services'
import type { DeployHost, RolloutRequest, TrafficSwitch } from '../types.ts'

/** The demo application's spec: busybox httpd on 8080, /healthz, SIGTERM handled. */
export const demoApp: AppSpec = AppSpec.parse({
  containerPort: 8080,
  healthCheck: { type: 'http', path: '/healthz', intervalSeconds: 0.2, timeoutSeconds: 1, retries: 2 },
  stopGraceSeconds: 5,
  resources: { memoryMb: 64 },
})

export function strategy(change: Partial<DeployStrategy> = {}): DeployStrategy {
  return DeployStrategy.parse({ drainSeconds: 1, healthTimeoutSeconds: 30, ...change })
}

/** The fleet's Docker hosts by name: each over TCP with TLS, at its own address. */
export function deployHosts(names: readonly string[]): DeployHost[] {
  return names.map((name) => {
    const host = fleetHost(name)
    return { name, address: host.address, driver: new DockerodeHost(name, host) }
  })
}

export interface DemoRequestOptions {
  project: string
  environment: string
  hosts: DeployHost[]
  traffic: TrafficSwitch
  registryAuth: RegistryAuth
  /** Labels every container (the test id for cleanup). */
  labels: Record<string, string>
  lines?: string[]
}

/** A rollout request for the demo app; `release` and `replicas` vary per call. */
export function demoRequest(
  base: DemoRequestOptions,
  release: { id: string; image: string },
  replicas: number,
  change: Partial<RolloutRequest> = {},
): RolloutRequest {
  return {
    project: base.project,
    environment: base.environment,
    release,
    hosts: base.hosts,
    replicas,
    app: demoApp,
    env: { GREETING: release.id },
    strategy: strategy(),
    registryAuth: base.registryAuth,
    traffic: base.traffic,
    signal: AbortSignal.timeout(180_000),
    labels: base.labels,
    log: (line) => base.lines?.push(line),
    ...change,
  }
}
