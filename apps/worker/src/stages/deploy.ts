import type { TrafficReport } from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import { type DeployHost, pruneImages } from '@slipway/deploy'
import { recordReleaseTraffic } from '@slipway/gateway'
import { deployRefusal } from '@slipway/runs'
import type { WorkerDeps } from '../deps.ts'
import { containerEnv, siteInclude, siteRequest } from '../environments/site.ts'
import { secretKeysOf, targetFor } from '../environments/target.ts'
import { digestRecord, digestRefusal } from './approved-digest.ts'
import { canaryHooks } from './canary.ts'
import { assertDeployGranted } from './grants.ts'
import { permanent, type StageContext, type StageResult } from './runner.ts'

/**
 * Removes images of this environment's older releases from its hosts, keeping the newest
 * `keep` releases (and anything a container still uses). Best effort: a failure is logged.
 */
async function pruneOldImages(
  deps: WorkerDeps,
  environmentId: string,
  keep: number,
  hosts: DeployHost[],
  log: (line: string) => void,
): Promise<void> {
  const releases = await deps.db.release.findMany({
    where: { environmentId },
    orderBy: { number: 'desc' },
    select: { image: true },
  })
  const images = [...new Set(releases.map((r) => r.image))]
  if (images.length <= keep) return
  const result = await pruneImages({
    hosts,
    images,
    keep: images.slice(0, keep),
    signal: AbortSignal.timeout(60_000),
    log,
  })
  if (result.removed.length)
    log(`pruned ${result.removed.length} old image(s): keeping the last ${keep} releases`)
  for (const error of result.errors) log(`prune on ${error.host}: ${error.error}`)
}

/** One line for the stage log: what the gateway saw during the rollout. */
export function trafficLine(report: TrafficReport): string {
  const { totals, latencyMs } = report
  const ms = (value: number | null) => (value === null ? '-' : `${Math.round(value)} ms`)
  const by = totals.failedBy
  const failed =
    totals.failed === 0
      ? '0 failed'
      : `${totals.failed} failed (${by.connection} connection, ${by.gateway5xx} gateway 5xx, ${by.app5xx} app 5xx)`
  const partial = report.complete ? '' : ' (the recorder had not caught up: the end is missing)'
  return `gateway during the rollout: ${totals.requests} requests, ${failed}, p50 ${ms(latencyMs.p50)}, p99 ${ms(latencyMs.p99)}${partial}`
}

/**
 * Stores what the gateway saw during the rollout on the release and says it in the stage
 * log. The deploy's outcome does not depend on it: a failure here is logged and told.
 */
async function recordTraffic(
  context: StageContext,
  site: { releaseId: string; project: string; environment: string; fromMs: number },
): Promise<void> {
  const { deps, log, signal } = context
  try {
    const report = await recordReleaseTraffic({
      db: deps.db,
      redis: deps.redis,
      prefix: deps.prefix,
      ...site,
      toMs: Date.now(),
      logger: deps.logger,
      signal,
    })
    log.write(trafficLine(report))
  } catch (error) {
    deps.logger.warn(
      { err: error, releaseId: site.releaseId },
      'could not record the gateway figures of a release',
    )
    log.write(`gateway figures not recorded: ${errorMessage(error)}`)
  }
}

/**
 * Deploys the pipeline's image, by digest, to the stage's environment through a rolling
 * rollout (pre-pull, health-checked batches, gateway switch, automatic rollback), recording a
 * release. An older pipeline never replaces a newer release already live there.
 */
export async function deployStage(context: StageContext): Promise<StageResult> {
  const { deps, stage, pipeline, project, log, signal, patient, deployLease } = context
  const environmentId = stage.environmentId
  if (!environmentId) throw permanent('deploy stage without an environment')
  if (!pipeline.imageDigest) throw permanent('no image digest: the push stage has not run')
  if (!deployLease) throw permanent('deploy stage without its environment deploy lease')
  // Exactly the image pushed and approved, or nothing.
  const wrongImage = digestRefusal(await digestRecord(context, pipeline.imageDigest))
  if (wrongImage) throw permanent(wrongImage)
  // Until the release row exists nothing has changed: the reads wait out a database restart.
  const environment = await patient(() =>
    deps.db.environment.findUniqueOrThrow({ where: { id: environmentId }, include: siteInclude }),
  )
  const live = await patient(() =>
    deps.db.release.findFirst({
      where: { environmentId, status: 'live' },
      orderBy: { number: 'desc' },
      include: { pipeline: { select: { number: true } } },
    }),
  )
  // The release rules (checked again when the release is recorded): an older pipeline never
  // replaces a newer release.
  const refusal = deployRefusal(
    pipeline,
    live ? { pipelineNumber: live.pipeline?.number ?? null } : null,
    environment.name,
  )
  if (refusal) throw permanent(refusal)
  if (!environment.hosts.length) throw permanent(`environment ${environment.name} has no Docker hosts`)
  const unaddressed = environment.hosts.filter(({ host }) => !host.address).map(({ host }) => host.name)
  if (unaddressed.length)
    throw permanent(
      `Docker host(s) ${unaddressed.join(', ')} of ${environment.name} have no address: their instances cannot be reached; set it in Settings → Hosts`,
    )
  await patient(() => assertDeployGranted(deps, environment.project, environment, pipeline))
  const config = await patient(() =>
    deps.db.configVersion.findFirst({ where: { environmentId }, orderBy: { version: 'desc' } }),
  )
  const configVersionId = config?.id ?? null
  const env = await patient(() =>
    containerEnv(deps, environment.id, configVersionId, {
      environment: environment.name,
      project: project.slug,
    }),
  )

  // Not repeated while the database is away: a commit whose answer was lost would make a
  // second release (the stage's next attempt starts over instead).
  const release = await deps.runs.startRelease({
    projectId: project.id,
    environment,
    pipeline,
    configVersionId,
    deployLease,
  })
  log.write(
    `release #${release.number} of ${environment.name}: ${pipeline.imageDigest} × ${environment.replicas}`,
  )

  const site = await patient(() => siteRequest(deps, environment))
  const secretKeys = await patient(() => secretKeysOf(deps, configVersionId))
  const target = targetFor(deps, environment, site)
  if (target.kind === 'swarm') log.write(`target: Docker Swarm, manager ${site.hosts[0]?.name}`)
  // A new release over a live one goes through the environment's canary steps, if it has
  // any; a rollback, a scale and a redeploy roll at once.
  const canaryPlan =
    site.strategy.canary && !['rollback', 'scale', 'redeploy'].includes(pipeline.trigger)
      ? site.strategy.canary
      : null
  if (canaryPlan && target.kind === 'swarm')
    log.write('canary: not run on a Swarm target (Swarm rolls the service itself): rolling at once')
  const canary =
    canaryPlan && target.kind === 'docker-hosts'
      ? canaryHooks(context, {
          project: project.slug,
          environment: environment.name,
          releaseId: release.id,
          plan: { steps: canaryPlan.steps, thresholds: canaryPlan.thresholds },
        })
      : undefined
  const rolloutFromMs = Date.now()
  const result = await target.deploy({
    ...site,
    release: { id: release.id, image: pipeline.imageDigest },
    replicas: environment.replicas,
    env,
    secretKeys,
    registry: deps.registry,
    traffic: deps.traffic,
    // A redeploy replaces every instance even when nothing changed.
    force: pipeline.trigger === 'redeploy',
    canary,
    signal,
    log: (line) => log.write(line),
  })

  await canary?.flush()
  const succeeded = result.status === 'succeeded'
  // The containers have changed: the release's outcome is recorded even across a restart.
  await patient(() =>
    deps.runs.finishRelease(
      { id: release.id, environmentId: environment.id, projectId: project.id },
      {
        succeeded,
        rolledBack: result.rolledBack,
        error: result.error?.message ?? null,
        result,
      },
      deployLease,
    ),
  )
  await recordTraffic(context, {
    releaseId: release.id,
    project: project.slug,
    environment: environment.name,
    fromMs: rolloutFromMs,
  })
  if (succeeded && target.kind === 'docker-hosts')
    await pruneOldImages(deps, environment.id, project.keepReleases, site.hosts, (line) => log.write(line))
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
