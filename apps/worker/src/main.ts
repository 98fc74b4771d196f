import { tmpdir } from 'node:os'
import path from 'node:path'
import { createLogger, createSecretBox, EnvError, parseKeyring } from '@slipway/core'
import { createDb } from '@slipway/db'
import { Redis } from 'ioredis'
import { createWorkerDeps } from './deps.ts'
import { loadGitEnv, loadWorkerEnv, type WorkerEnv } from './env.ts'
import { startWorker } from './worker.ts'

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
const deps = createWorkerDeps({
  db,
  redis: connection,
  prefix: env.SLIPWAY_REDIS_PREFIX,
  secrets,
  logger,
  workerId: env.WORKER_ID,
  gitEnv: loadGitEnv(),
  workDir: env.WORKER_WORK_DIR ?? path.join(tmpdir(), 'slipway-work'),
  logLimits: { lines: env.STAGE_LOG_MAX_LINES, bytes: env.STAGE_LOG_MAX_BYTES },
  leaseMs: env.STAGE_LEASE_SECONDS * 1000,
})

const worker = await startWorker(deps, {
  concurrency: env.WORKER_CONCURRENCY,
  buildGroups: env.WORKER_BUILD_GROUPS,
  publicUrl: env.SLIPWAY_PUBLIC_URL,
  gatewayDir: env.GATEWAY_DIR,
  gatewayBindAddress: env.GATEWAY_BIND_ADDRESS,
  hostProbeIntervalMs: env.HOST_PROBE_INTERVAL_SECONDS * 1000,
  reapIntervalMs: 5000,
  supervise: env.SUPERVISE
    ? { intervalMs: 5000, reconcileEveryMs: env.RECONCILE_INTERVAL_SECONDS * 1000, monitorIntervalMs: 5000 }
    : undefined,
  logger,
})
logger.info(
  {
    concurrency: env.WORKER_CONCURRENCY,
    buildGroups: env.WORKER_BUILD_GROUPS,
    gateway: env.GATEWAY_DIR ? { dir: env.GATEWAY_DIR, bindAddress: env.GATEWAY_BIND_ADDRESS } : null,
  },
  'worker started',
)

let closing = false
async function shutdown(signal: string): Promise<void> {
  if (closing) return
  closing = true
  logger.info({ signal, graceSeconds: env.WORKER_SHUTDOWN_GRACE_SECONDS }, 'shutting down')
  await worker.close(env.WORKER_SHUTDOWN_GRACE_SECONDS * 1000)
  await deps.queues.close()
  await db.$disconnect()
  connection.disconnect()
  logger.info('stopped')
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
