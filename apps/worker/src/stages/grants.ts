import { AppSpec } from '@slipway/contracts'
import type { Project } from '@slipway/db'
import { checkChoices, mayDeployTo, type Subject } from '@slipway/policy'
import { operationTriggers, waitsForDeployer } from '@slipway/runs'
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
  environment: {
    id: string
    name: string
    replicas: number
    protected: boolean
    requiredApprovals: number
    hosts: ReadonlyArray<{ hostId: string }>
  },
  pipeline?: { id: string; projectId: string; trigger: string; actorUserId: string | null },
): Promise<void> {
  if (pipeline && environment.protected) await assertProtectedDeploy(deps, environment, pipeline)
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

/**
 * Re-checks at build and push that the project's registry and repository path are within its
 * registry grants: a grant withdrawn since the setting was made stops the next image too.
 */
export async function assertImageGranted(deps: Pick<WorkerDeps, 'db'>, project: Project): Promise<void> {
  const registries = await deps.db.projectRegistryGrant.findMany({
    where: { projectId: project.id },
    select: { registryId: true, pathPrefix: true },
  })
  const violations = checkChoices(
    {
      hostIds: [],
      registries,
      limits: {
        maxReplicas: project.maxReplicas,
        maxMemoryMb: project.maxMemoryMb,
        allowHostNetwork: project.allowHostNetwork,
      },
    },
    { image: { registryId: project.registryId, repository: project.imageRepository } },
  )
  if (violations.length) throw permanent(`no image is made: ${violations.map((v) => v.message).join('; ')}`)
}

async function subjectOf(deps: Pick<WorkerDeps, 'db'>, projectId: string, userId: string): Promise<Subject> {
  const user = await deps.db.user.findUnique({
    where: { id: userId },
    select: { isAdmin: true, memberships: { where: { projectId }, select: { role: true } } },
  })
  return { isAdmin: user?.isAdmin ?? false, role: user?.memberships[0]?.role }
}

/**
 * The last line of protected environments (packages/policy protected.ts): an operation's
 * requester must be allowed to deploy there, and a pipeline its starter could not deploy must
 * have passed an approval there by someone who may. Catches pipelines planned before the rule
 * and anything that reached the stage another way.
 */
async function assertProtectedDeploy(
  deps: Pick<WorkerDeps, 'db'>,
  environment: { id: string; name: string; protected: boolean; requiredApprovals: number },
  pipeline: { id: string; projectId: string; trigger: string; actorUserId: string | null },
): Promise<void> {
  const refuse = (why: string) =>
    permanent(`not deployed to ${environment.name}, a protected environment: ${why}`)
  if (operationTriggers.has(pipeline.trigger)) {
    const requester = pipeline.actorUserId
      ? await subjectOf(deps, pipeline.projectId, pipeline.actorUserId)
      : null
    if (!requester || !mayDeployTo(requester, true))
      throw refuse(`the ${pipeline.trigger} was asked for by someone who may not deploy there`)
    return
  }
  if (!(await waitsForDeployer(deps.db, pipeline, environment))) return
  const approvals = await deps.db.approval.findMany({
    where: {
      decision: 'approved',
      stage: {
        pipelineId: pipeline.id,
        environmentId: environment.id,
        kind: 'approval',
        status: 'succeeded',
      },
    },
    select: { userId: true },
  })
  for (const { userId } of approvals)
    if (mayDeployTo(await subjectOf(deps, pipeline.projectId, userId), true)) return
  throw refuse(
    'the pipeline was started by someone who may not deploy there and no maintainer or admin approved it',
  )
}
