import { tmpdir } from 'node:os'
import path from 'node:path'
import { createLogger, createSecretBox, EnvError, parseKeyring } from '@slipway/core'
import { createDb, secretContext } from '@slipway/db'
import { DockerHostPool, hostRecordFromRow } from '@slipway/docker'
import { createTrafficSwitch } from '@slipway/gateway'
import { OutboxDispatcher, Queues } from '@slipway/jobs'
import { publisher } from '@slipway/runs'
import { Redis } from 'ioredis'
import type { WorkerDeps } from './deps.ts'
import { loadWorkerEnv, type WorkerEnv } from './env.ts'
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

function loadEnvOrExit(): WorkerEnv {
  try {
    return loadWorkerEnv()
  } catch (error) {
    if (error instanceof EnvError) {
      console.error(`slipway-worker: ${error.message}`)
      process.exit(1)
    }
    throw error
  }
}

const env = loadEnvOrExit()
const logger = createLogger({ name: 'worker', level: env.LOG_LEVEL, base: { workerId: env.WORKER_ID } })
const secrets = createSecretBox(parseKeyring(env.SLIPWAY_SECRET_KEYS))
const db = createDb({ url: env.DATABASE_URL, poolSize: env.WORKER_CONCURRENCY + 6 })
// BullMQ workers block on Redis: they need maxRetriesPerRequest null (production guide).
const connection = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null })
connection.on('error', (error) => logger.warn({ err: error }, 'redis connection error'))
const prefix = 'slipway'
const queues = new Queues(connection, prefix)
const outbox = new OutboxDispatcher(db, queues, logger)

const deps: WorkerDeps = {
  db,
  redis: connection,
  prefix,
  queues,
  outbox,
  secrets,
  hosts: new DockerHostPool(),
  hostRecord: (row) =>
    hostRecordFromRow(row, (host, envelope) => secrets.decrypt(envelope, secretContext.hostTlsKey(host.id))),
  logger,
  workerId: env.WORKER_ID,
  workDir: env.WORKER_WORK_DIR ?? path.join(tmpdir(), 'slipway-work'),
  traffic: createTrafficSwitch({ redis: connection, prefix, logger }),
  publish: publisher(connection, prefix, outbox),
}

await queues
  .get('maintenance')
  .upsertJobScheduler(
    'hosts.probe',
    { every: env.HOST_PROBE_INTERVAL_SECONDS * 1000 },
    { name: 'hosts.probe', data: {}, opts: { removeOnComplete: 100, removeOnFail: 1000 } },
  )
await queues
  .get('maintenance')
  .upsertJobScheduler(
    'stages.reap',
    { every: 5000 },
    { name: 'stages.reap', data: {}, opts: { removeOnComplete: 100, removeOnFail: 1000 } },
  )

const common = { connection, prefix, logger, workerId: env.WORKER_ID }
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
    concurrency: env.WORKER_CONCURRENCY,
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
      'gitlab.commitStatus': reportCommitStatus(deps, env.SLIPWAY_PUBLIC_URL),
      'notify.pipeline': fanOutPipelineEvent(deps, env.SLIPWAY_PUBLIC_URL),
      'notify.deliver': deliverNotification(deps),
    },
  }),
  startQueueWorker({
    ...common,
    queue: 'maintenance',
    concurrency: 2,
    processors: { 'hosts.probe': probeHosts(deps), 'stages.reap': reapStages(deps) },
  }),
]
outbox.start()
const gateway = env.GATEWAY_DIR ? await startGateway(deps, env.GATEWAY_DIR) : undefined
logger.info({ concurrency: env.WORKER_CONCURRENCY, gateway: env.GATEWAY_DIR ?? null }, 'worker started')

let closing = false
async function shutdown(signal: string): Promise<void> {
  if (closing) return
  closing = true
  logger.info({ signal, graceSeconds: env.WORKER_SHUTDOWN_GRACE_SECONDS }, 'shutting down')
  await Promise.all(workers.map((worker) => worker.close(env.WORKER_SHUTDOWN_GRACE_SECONDS * 1000)))
  await gateway?.stop()
  await outbox.stop()
  await queues.close()
  await db.$disconnect()
  connection.disconnect()
  logger.info('stopped')
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
