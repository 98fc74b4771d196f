import { AppSpec, DeployStrategy } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { type Host, type Prisma, secretContext } from '@slipway/db'
import type { DeployHost } from '@slipway/deploy'
import { effectiveMemoryMb } from '@slipway/policy'
import type { WorkerDeps } from '../deps.ts'
import { registryAuth } from '../registry.ts'

export const siteInclude = {
  project: true,
  hosts: { include: { host: true } },
  releases: { where: { status: 'live' }, orderBy: { number: 'desc' }, take: 1 },
} as const satisfies Prisma.EnvironmentInclude

export type SiteRow = Prisma.EnvironmentGetPayload<{ include: typeof siteInclude }>

/** Every instance has a memory limit: the app spec's own, else the project's (packages/policy grants.ts). */
function withProjectMemoryLimit(app: AppSpec, maxMemoryMb: number): AppSpec {
  return { ...app, resources: { ...app.resources, memoryMb: effectiveMemoryMb({ maxMemoryMb }, app) } }
}

/** The container environment of a release: its config version's values, plus ENVT and PROJ. */
export async function containerEnv(
  deps: Pick<WorkerDeps, 'db' | 'secrets'>,
  environmentId: string,
  configVersionId: string | null,
  names: { environment: string; project: string },
): Promise<Record<string, string>> {
  const entries = configVersionId ? await deps.db.configEntry.findMany({ where: { configVersionId } }) : []
  const vars: Record<string, string> = {}
  for (const entry of entries) {
    vars[entry.key] = entry.secret
      ? deps.secrets.decrypt(entry.valueEnc ?? '', secretContext.configSecret(environmentId, entry.key))
      : (entry.value ?? '')
  }
  return { ...vars, ENVT: names.environment, PROJ: names.project }
}

/**
 * A host row as the deploy package sees it: its driver and the address its instances are
 * reached at. A host stored before addresses existed whose endpoint named none has '' and
 * cannot be deployed to until an admin sets it.
 */
function deployHost(deps: Pick<WorkerDeps, 'hosts' | 'hostRecord'>, host: Host): DeployHost {
  if (!host.address)
    throw new AppError(
      'PRECONDITION_FAILED',
      `Docker host ${host.name} has no address: its instances cannot be reached; set it in Settings → Hosts`,
      { details: { host: host.name, field: 'address' } },
    )
  return { name: host.name, address: host.address, driver: deps.hosts.get(deps.hostRecord(host)) }
}

/**
 * Everything about an environment a rollout or reconcile needs, except the traffic and the
 * log: its hosts at their addresses, the host-port leases and the discovery registry.
 */
export async function siteRequest(deps: WorkerDeps, site: SiteRow) {
  const imageRegistry = site.project.registryId
    ? await deps.db.registry.findUnique({ where: { id: site.project.registryId } })
    : null
  const hosts = site.hosts.map(({ host }) => deployHost(deps, host))
  return {
    project: site.project.slug,
    environment: site.name,
    hosts,
    ports: deps.ports,
    registry: deps.registry,
    app: withProjectMemoryLimit(AppSpec.parse(site.project.appSpec), site.project.maxMemoryMb),
    strategy: DeployStrategy.parse(site.strategy),
    registryAuth: imageRegistry ? registryAuth(deps, imageRegistry) : undefined,
  }
}
