import { createLogger, createSecretBox, EnvError, parseKeyring } from '@slipway/core'
import { createDb } from '@slipway/db'
import { DockerHostPool, hostRecordFromRow } from '@slipway/docker'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { loadWorkerEnv, type WorkerEnv } from './env.ts'
import { probeHosts } from './hosts/probe.ts'
import { startQueueWorker } from './runtime.ts'

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
const db = createDb({ url: env.DATABASE_URL })
// BullMQ workers block on Redis: they need maxRetriesPerRequest null (production guide).
const connection = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null })
connection.on('error', (error) => logger.warn({ err: error }, 'redis connection error'))
const prefix = 'slipway'

const hosts = new DockerHostPool()
const hostRecord = (row: Parameters<typeof hostRecordFromRow>[0]) =>
  hostRecordFromRow(row, (envelope, context) => secrets.decrypt(envelope, context))

const maintenance = new Queue('maintenance', { connection, prefix })
maintenance.on('error', (error) => logger.warn({ err: error }, 'queue error'))
await maintenance.upsertJobScheduler(
  'hosts.probe',
  { every: env.HOST_PROBE_INTERVAL_SECONDS * 1000 },
  { name: 'hosts.probe', data: {}, opts: { removeOnComplete: 100, removeOnFail: 1000 } },
)

const workers = [
  startQueueWorker({
    queue: 'maintenance',
    connection,
    prefix,
    processors: { 'hosts.probe': probeHosts({ db, hosts, hostRecord }) },
    concurrency: env.WORKER_CONCURRENCY,
    logger,
    workerId: env.WORKER_ID,
  }),
]
logger.info({ concurrency: env.WORKER_CONCURRENCY }, 'worker started')

let closing = false
async function shutdown(signal: string): Promise<void> {
  if (closing) return
  closing = true
  logger.info({ signal, graceSeconds: env.WORKER_SHUTDOWN_GRACE_SECONDS }, 'shutting down')
  await Promise.all(workers.map((worker) => worker.close(env.WORKER_SHUTDOWN_GRACE_SECONDS * 1000)))
  await maintenance.close()
  await db.$disconnect()
  connection.disconnect()
  logger.info('stopped')
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
