import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { AppSpec, DeployStrategy } from '@slipway/contracts'
import { DockerodeHost, type RegistryAuth } from '@slipway/docker'
import { createHostPorts } from '@slipway/runs'
import { fleetHost } from '@slipway/testing/services'
import type { DeployHost, HostPorts, RegisteredInstances, RolloutRequest, TrafficSwitch } from '../types.ts'

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

/** A Prisma client (the test's database), as @slipway/runs takes it. */
type Db = Parameters<typeof createHostPorts>[0]

/**
 * The product's host-network port leases (PostgreSQL, @slipway/runs) over the test's
 * database, with a Host row for each of `hosts` (leases hang on host rows).
 */
export async function hostPortsOn(db: Db, hosts: readonly DeployHost[]): Promise<HostPorts> {
  for (const host of hosts)
    await db.host.upsert({
      where: { name: host.name },
      create: { name: host.name, endpoint: `tcp://${host.name}.test:2376`, address: host.address },
      update: { address: host.address },
    })
  return createHostPorts(db)
}

/**
 * A site from `siteOn` with what the product's rollouts also get: host-port leases over the
 * test's database and the gateway's discovery registry.
 */
export async function withLeases<
  Site extends { base: DemoRequestOptions; gateway: { registry: RegisteredInstances } },
>(db: Db, site: Site): Promise<Site & { base: Site['base'] & Leases }> {
  const ports = await hostPortsOn(db, site.base.hosts)
  return { ...site, base: { ...site.base, ports, registry: site.gateway.registry } }
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

/** What the product's rollouts get besides the site: port leases and the discovery registry. */
export interface Leases {
  /** Host-network port leases (`hostPortsOn`). */
  ports: HostPorts
  /** The gateway's discovery registry, when the test has one. */
  registry?: RegisteredInstances
}

/** A rollout request for the demo app; `release` and `replicas` vary per call. */
export function demoRequest(
  base: DemoRequestOptions & Leases,
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
    ports: base.ports,
    registry: base.registry,
    signal: AbortSignal.timeout(180_000),
    labels: base.labels,
    log: (line) => base.lines?.push(line),
    ...change,
  }
}

/** A demoImage patch: the demo with /healthz never created, so it never becomes healthy. */
export async function neverHealthy(dir: string): Promise<void> {
  const start = path.join(dir, 'start.sh')
  await writeFile(start, (await readFile(start, 'utf8')).replace('echo ok > /www/healthz', 'true'))
}
