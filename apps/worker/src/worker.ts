import { buildQueueOf } from '@slipway/contracts'
import type { Logger } from '@slipway/core'
import type { WorkerDeps } from './deps.ts'
import { reconcileEnvironment } from './environments/reconcile.ts'
import { EnvironmentSupervisor } from './environments/supervisor.ts'
import { startGateway } from './gateway.ts'
import { probeHosts } from './hosts/probe.ts'
import { reportCommitStatus } from './notify/gitlab.ts'
import { deliverNotification, fanOutPipelineEvent } from './notify/webhooks.ts'
import { advance } from './pipelines/advance.ts'
import { type QueueWorker, startQueueWorker } from './runtime.ts'
import { buildStage } from './stages/build.ts'
import { deployStage } from './stages/deploy.ts'
import { pushStage } from './stages/push.ts'
import { reapStages } from './stages/reaper.ts'
import { runStage } from './stages/runner.ts'
import { stageSecrets } from './stages/secrets.ts'

export interface WorkerOptions {
  /** Stage jobs (builds, pushes, deploys) this process runs at once, per queue. */
  concurrency: number
  /** Build agent groups whose builds and pushes this worker runs: '*' (every group) or a list. */
  buildGroups: '*' | readonly string[]
  /** How often '*' looks for new groups (default 10 s). */
  groupScanIntervalMs?: number
  /** The dashboard address, for links in commit statuses and notifications. */
  publicUrl: string
  /** Run the gateway agent and traffic recorder for the HAProxy in this folder (haproxy.cfg, sites/, admin socket). */
  gatewayDir?: string
  /** The address the gateway's site ports listen on (default 127.0.0.1). */
  gatewayBindAddress?: string
  hostProbeIntervalMs: number
  reapIntervalMs: number
  /** Health monitors and self-healing for live environments (one worker leads at a time). */
  supervise?: { intervalMs: number; reconcileEveryMs: number; monitorIntervalMs: number }
  logger: Logger
}

export interface RunningWorker {
  /** Stops taking jobs; running ones get `graceMs` to finish, then are released. */
  close(graceMs: number): Promise<void>
}

/** Starts every queue worker, the periodic jobs, the outbox dispatcher and (optionally) the gateway agent and traffic recorder. */
export async function startWorker(deps: WorkerDeps, options: WorkerOptions): Promise<RunningWorker> {
  const schedule = async () => {
    await deps.queues.every('hosts.probe', options.hostProbeIntervalMs, {})
    await deps.queues.every('stages.reap', options.reapIntervalMs, {})
  }
  await schedule()
  // Redis may come back empty (no persistence, failover): put the periodic jobs back.
  const reschedule = () =>
    void schedule().catch((error) =>
      options.logger.warn({ err: error }, 'could not re-create the periodic jobs'),
    )
  deps.redis.on('ready', reschedule)

  const common = {
    connection: deps.redis,
    prefix: deps.prefix,
    logger: options.logger,
    workerId: deps.workerId,
  }
  const stageProcessors = {
    'stage.run': runStage(deps, {
      build: buildStage,
      push: pushStage,
      deploy: deployStage,
      secretsOf: stageSecrets,
    }),
  }
  // Deploys (and stage jobs of no group) come from the catalog queue; builds and pushes from
  // their build agent group's queue, one BullMQ worker per group served.
  const stageWorker = (group?: string) =>
    startQueueWorker({
      ...common,
      queue: 'stages',
      ...(group ? { bullQueue: buildQueueOf(group) } : {}),
      concurrency: options.concurrency,
      processors: stageProcessors,
    })
  const groupWorkers = new Map<string, QueueWorker>()
  const serve = (groups: readonly string[]) => {
    const added = groups.filter((group) => !groupWorkers.has(group))
    for (const group of added) groupWorkers.set(group, stageWorker(group))
    if (added.length) options.logger.info({ groups: added }, 'taking builds of these build agent groups')
  }
  const scanGroups = async () => serve(await knownBuildGroups(deps))
  let groupScan: NodeJS.Timeout | undefined
  if (options.buildGroups === '*') {
    await scanGroups()
    groupScan = setInterval(
      () =>
        void scanGroups().catch((error) =>
          options.logger.warn({ err: error }, 'could not look for new build agent groups'),
        ),
      options.groupScanIntervalMs ?? 10_000,
    )
    groupScan.unref()
  } else {
    serve(options.buildGroups)
  }

  const workers = [
    startQueueWorker({
      ...common,
      queue: 'pipelines',
      concurrency: 8,
      processors: { 'pipeline.advance': advance(deps) },
    }),
    stageWorker(),
    startQueueWorker({
      ...common,
      queue: 'notifications',
      concurrency: 4,
      processors: {
        'gitlab.commitStatus': reportCommitStatus(deps, options.publicUrl),
        'notify.pipeline': fanOutPipelineEvent(deps, options.publicUrl),
        'notify.deliver': deliverNotification(deps),
      },
    }),
    startQueueWorker({
      ...common,
      queue: 'maintenance',
      concurrency: 2,
      processors: {
        'hosts.probe': probeHosts(deps),
        'stages.reap': reapStages(deps),
        'environment.reconcile': reconcileEnvironment(deps),
      },
    }),
  ]
  deps.outbox.start()
  const gateway = options.gatewayDir
    ? await startGateway(deps, options.gatewayDir, options.gatewayBindAddress)
    : undefined
  const supervisor = options.supervise
    ? new EnvironmentSupervisor(deps, options.logger, options.supervise)
    : undefined
  supervisor?.start()
  return {
    async close(graceMs) {
      deps.redis.off('ready', reschedule)
      clearInterval(groupScan)
      await supervisor?.stop()
      await Promise.all([...workers, ...groupWorkers.values()].map((worker) => worker.close(graceMs)))
      await gateway?.stop()
      await deps.outbox.stop()
    },
  }
}

/** Every build agent group a host is in or a project builds with. */
async function knownBuildGroups(deps: WorkerDeps): Promise<string[]> {
  const [hosts, projects] = await Promise.all([
    deps.db.host.findMany({
      where: { agentGroup: { not: null } },
      distinct: ['agentGroup'],
      select: { agentGroup: true },
    }),
    deps.db.project.findMany({ distinct: ['buildAgentGroup'], select: { buildAgentGroup: true } }),
  ])
  return [
    ...new Set([
      ...hosts.flatMap((host) => (host.agentGroup ? [host.agentGroup] : [])),
      ...projects.map((project) => project.buildAgentGroup),
    ]),
  ].sort()
}
