import { AppSpec } from '@slipway/contracts'
import type { Project } from '@slipway/db'
import { checkChoices } from '@slipway/policy'
import type { WorkerDeps } from '../deps.ts'
import { permanent } from './runner.ts'

/**
 * Re-checks at deploy what the API checked when the settings were made: the environment's
 * hosts, the registry and repository path, the replicas, memory and network are all within
 * what an instance administrator granted the project (packages/policy grants.ts). A grant
 * withdrawn or a limit lowered since stops the deploy before anything changes.
 */
export async function assertDeployGranted(
  deps: Pick<WorkerDeps, 'db'>,
  project: Project,
  environment: { name: string; replicas: number; hosts: ReadonlyArray<{ hostId: string }> },
): Promise<void> {
  const [hosts, registries] = await Promise.all([
    deps.db.projectHostGrant.findMany({ where: { projectId: project.id }, select: { hostId: true } }),
    deps.db.projectRegistryGrant.findMany({
      where: { projectId: project.id },
      select: { registryId: true, pathPrefix: true },
    }),
  ])
  const violations = checkChoices(
    {
      hostIds: hosts.map((h) => h.hostId),
      registries,
      limits: {
        maxReplicas: project.maxReplicas,
        maxMemoryMb: project.maxMemoryMb,
        allowHostNetwork: project.allowHostNetwork,
      },
    },
    {
      hostIds: environment.hosts.map((h) => h.hostId),
      image: { registryId: project.registryId, repository: project.imageRepository },
      appSpec: AppSpec.parse(project.appSpec),
      replicas: environment.replicas,
    },
  )
  if (violations.length)
    throw permanent(`not deployed to ${environment.name}: ${violations.map((v) => v.message).join('; ')}`)
}
