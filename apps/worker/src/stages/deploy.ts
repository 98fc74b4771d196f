import { AppSpec, DeployStrategy } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { secretContext } from '@slipway/db'
import { type DeployHost, rollout } from '@slipway/deploy'
import type { WorkerDeps } from '../deps.ts'
import { registryAuth } from '../registry.ts'
import { permanent, type StageContext, type StageResult } from './runner.ts'

/** Pipelines that exist to move an environment deliberately (they may go back in time). */
const operations = new Set(['rollback', 'scale', 'redeploy'])

/** The container environment of a release: ENVT, PROJ and the config version's values. */
async function releaseEnv(deps: WorkerDeps, environmentId: string, envName: string, project: string) {
  const latest = await deps.db.configVersion.findFirst({
    where: { environmentId },
    orderBy: { version: 'desc' },
    include: { entries: true },
  })
  const vars: Record<string, string> = {}
  for (const entry of latest?.entries ?? []) {
    vars[entry.key] = entry.secret
      ? deps.secrets.decrypt(entry.valueEnc ?? '', secretContext.configSecret(environmentId, entry.key))
      : (entry.value ?? '')
  }
  return { configVersionId: latest?.id ?? null, env: { ...vars, ENVT: envName, PROJ: project } }
}

/**
 * Deploys the pipeline's image, by digest, to the stage's environment through a rolling
 * rollout (pre-pull, health-checked batches, gateway switch, automatic rollback), recording a
 * release. An older pipeline never replaces a newer release already live there.
 */
export async function deployStage(context: StageContext): Promise<StageResult> {
  const { deps, stage, pipeline, project, log, signal } = context
  if (!stage.environmentId) throw permanent('deploy stage without an environment')
  if (!pipeline.imageDigest) throw permanent('no image digest: the push stage has not run')
  const environment = await deps.db.environment.findUniqueOrThrow({
    where: { id: stage.environmentId },
    include: { hosts: { include: { host: true } } },
  })
  const live = await deps.db.release.findFirst({
    where: { environmentId: environment.id, status: 'live' },
    orderBy: { number: 'desc' },
    include: { pipeline: { select: { number: true } } },
  })
  if (!operations.has(pipeline.trigger) && live?.pipeline && live.pipeline.number > pipeline.number) {
    throw permanent(
      `refusing to deploy pipeline #${pipeline.number} over #${live.pipeline.number}, which is already live in ${environment.name}; roll back deliberately instead`,
    )
  }
  if (!environment.hosts.length) throw permanent(`environment ${environment.name} has no Docker hosts`)
  const registry = project.registryId
    ? await deps.db.registry.findUnique({ where: { id: project.registryId } })
    : null
  const { configVersionId, env } = await releaseEnv(deps, environment.id, environment.name, project.slug)
  const digest = pipeline.imageDigest.slice(pipeline.imageDigest.indexOf('@') + 1)

  const release = await deps.db.$transaction(async (tx) => {
    const last = await tx.release.findFirst({
      where: { environmentId: environment.id },
      orderBy: { number: 'desc' },
    })
    return tx.release.create({
      data: {
        environmentId: environment.id,
        number: (last?.number ?? 0) + 1,
        pipelineId: pipeline.id,
        kind: operations.has(pipeline.trigger) ? pipeline.trigger : 'deploy',
        image: pipeline.imageDigest!,
        digest,
        configVersionId,
        replicas: environment.replicas,
        status: 'deploying',
        previousReleaseId: live?.id ?? null,
        actorUserId: pipeline.actorUserId,
        startedAt: new Date(),
      },
    })
  })
  await deps.publish({
    projectId: project.id,
    events: [{ type: 'release', environmentId: environment.id, releaseId: release.id, status: 'deploying' }],
    cancelRunning: [],
  })
  log.write(
    `release #${release.number} of ${environment.name}: ${pipeline.imageDigest} × ${environment.replicas}`,
  )

  const hosts: DeployHost[] = environment.hosts.map(({ host }) => ({
    name: host.name,
    driver: deps.hosts.get(deps.hostRecord(host)),
  }))
  const result = await rollout({
    project: project.slug,
    environment: environment.name,
    release: { id: release.id, image: pipeline.imageDigest },
    hosts,
    replicas: environment.replicas,
    app: AppSpec.parse(project.appSpec),
    env,
    strategy: DeployStrategy.parse(environment.strategy),
    registryAuth: registry ? registryAuth(deps, registry) : undefined,
    traffic: deps.traffic,
    signal,
    log: (line) => log.write(line),
  })

  const succeeded = result.status === 'succeeded'
  await deps.db.$transaction(async (tx) => {
    await tx.release.update({
      where: { id: release.id },
      data: {
        status: succeeded ? 'live' : result.rolledBack ? 'rolled_back' : 'failed',
        error: result.error?.message ?? null,
        result: JSON.parse(JSON.stringify(result)),
        finishedAt: new Date(),
      },
    })
    if (succeeded) {
      await tx.release.updateMany({
        where: { environmentId: environment.id, status: 'live', id: { not: release.id } },
        data: { status: 'superseded' },
      })
    }
  })
  await deps.publish({
    projectId: project.id,
    events: [
      {
        type: 'release',
        environmentId: environment.id,
        releaseId: release.id,
        status: succeeded ? 'live' : 'failed',
      },
    ],
    cancelRunning: [],
  })
  if (!succeeded) {
    const reason = result.error?.message ?? 'rollout failed'
    const rolledBack = result.rolledBack
      ? ` (rolled back${result.rollbackError ? ` incompletely: ${result.rollbackError.message}` : ''})`
      : ''
    throw new AppError(result.error?.code ?? 'INTERNAL', `${reason}${rolledBack}`)
  }
  return {
    result: {
      releaseId: release.id,
      releaseNumber: release.number,
      image: pipeline.imageDigest,
      instances: result.instances.length,
      durationMs: result.durationMs,
    },
  }
}
