import type { Logger } from '@slipway/core'
import type { WorkerDeps } from './deps.ts'
import { reconcileEnvironment } from './environments/reconcile.ts'
import { EnvironmentSupervisor } from './environments/supervisor.ts'
import { startGateway } from './gateway.ts'
import { probeHosts } from './hosts/probe.ts'
import { reportCommitStatus } from './notify/gitlab.ts'
import { deliverNotification, fanOutPipelineEvent } from './notify/webhooks.ts'
import { advance } from './pipelines/advance.ts'
import { startQueueWorker } from './runtime.ts'
import { buildStage } from './stages/build.ts'
import { deployStage } from './stages/deploy.ts'
import { pushStage } from './stages/push.ts'
import { reapStages } from './stages/reaper.ts'
import { runStage } from './stages/runner.ts'
import { stageSecrets } from './stages/secrets.ts'

export interface WorkerOptions {
  /** Stage jobs (builds, pushes, deploys) this process runs at once. */
  concurrency: number
  /** The dashboard address, for links in commit statuses and notifications. */
  publicUrl: string
  /** Run the gateway agent and traffic recorder for the HAProxy in this folder (haproxy.cfg, sites/, admin socket). */
  gatewayDir?: string
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
  const workers = [
    startQueueWorker({
      ...common,
      queue: 'pipelines',
      concurrency: 8,
      processors: { 'pipeline.advance': advance(deps) },
    }),
    startQueueWorker({
      ...common,
      queue: 'stages',
      concurrency: options.concurrency,
      processors: {
        'stage.run': runStage(deps, {
          build: buildStage,
          push: pushStage,
          deploy: deployStage,
          secretsOf: stageSecrets,
        }),
      },
    }),
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
  const gateway = options.gatewayDir ? await startGateway(deps, options.gatewayDir) : undefined
  const supervisor = options.supervise
    ? new EnvironmentSupervisor(deps, options.logger, options.supervise)
    : undefined
  supervisor?.start()
  return {
    async close(graceMs) {
      deps.redis.off('ready', reschedule)
      await supervisor?.stop()
      await Promise.all(workers.map((worker) => worker.close(graceMs)))
      await gateway?.stop()
      await deps.outbox.stop()
    },
  }
}
