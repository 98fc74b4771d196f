import { AppSpec, DeployStrategy } from '@slipway/contracts'
import { type Prisma, secretContext } from '@slipway/db'
import type { DeployHost } from '@slipway/deploy'
import type { WorkerDeps } from '../deps.ts'
import { registryAuth } from '../registry.ts'

export const siteInclude = {
  project: true,
  hosts: { include: { host: true } },
  releases: { where: { status: 'live' }, orderBy: { number: 'desc' }, take: 1 },
} as const satisfies Prisma.EnvironmentInclude

export type SiteRow = Prisma.EnvironmentGetPayload<{ include: typeof siteInclude }>

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

/** Everything about an environment a rollout or reconcile needs, except the traffic and the log. */
export async function siteRequest(deps: WorkerDeps, site: SiteRow) {
  const registry = site.project.registryId
    ? await deps.db.registry.findUnique({ where: { id: site.project.registryId } })
    : null
  const hosts: DeployHost[] = site.hosts.map(({ host }) => ({
    name: host.name,
    driver: deps.hosts.get(deps.hostRecord(host)),
  }))
  return {
    project: site.project.slug,
    environment: site.name,
    hosts,
    app: AppSpec.parse(site.project.appSpec),
    strategy: DeployStrategy.parse(site.strategy),
    registryAuth: registry ? registryAuth(deps, registry) : undefined,
  }
}
