import { AppError } from '@slipway/core'
import type { Host } from '@slipway/db'
import { type DeployTarget, DockerHostsTarget, SwarmTarget } from '@slipway/deploy'
import { DockerodeSwarm } from '@slipway/docker'
import type { WorkerDeps } from '../deps.ts'
import type { SiteRow } from './site.ts'

/**
 * The deploy target of an environment: a Swarm through its manager (the environment's one
 * host), else Slipway's rolling engine on its Docker hosts (`site` from siteRequest).
 */
export function targetFor(
  deps: Pick<WorkerDeps, 'hostRecord' | 'ports'>,
  environment: Pick<SiteRow, 'name' | 'target'> & { hosts: { host: Host }[] },
  site: ConstructorParameters<typeof DockerHostsTarget>[0],
): DeployTarget {
  if (environment.target !== 'swarm') return new DockerHostsTarget(site)
  const [manager, ...more] = environment.hosts.map(({ host }) => host)
  if (!manager || more.length)
    throw new AppError(
      'PRECONDITION_FAILED',
      `Swarm environment ${environment.name} needs exactly one host, its Swarm manager (it has ${environment.hosts.length})`,
      { details: { field: 'hostIds' } },
    )
  return new SwarmTarget(new DockerodeSwarm(manager.name, deps.hostRecord(manager)))
}

/** The names of a config version's secret entries (Swarm mounts them as files, not env). */
export async function secretKeysOf(
  deps: Pick<WorkerDeps, 'db'>,
  configVersionId: string | null,
): Promise<Set<string>> {
  if (!configVersionId) return new Set()
  const rows = await deps.db.configEntry.findMany({
    where: { configVersionId, secret: true },
    select: { key: true },
  })
  return new Set(rows.map((row) => row.key))
}
