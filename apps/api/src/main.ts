import path from 'node:path'
import { createLogger, createSecretBox, EnvError, parseKeyring } from '@slipway/core'
import { createDb, whileDatabaseAway } from '@slipway/db'
import { Redis } from 'ioredis'
import { buildApp } from './app.ts'
import { createAppDeps } from './deps.ts'
import { type ApiEnv, loadApiEnv, loadGitEnv } from './env.ts'
import { sealGitUrlCredentials } from './projects/git-url.ts'
import { settingsFromEnv } from './settings.ts'

function loadEnvOrExit(): ApiEnv {
  try {
    return loadApiEnv()
  } catch (error) {
    if (error instanceof EnvError) {
      console.error(`slipway-api: ${error.message}`)
      process.exit(1)
    }
    throw error
  }
}

const env = loadEnvOrExit()
const logger = createLogger({ name: 'api', level: env.LOG_LEVEL })
const secrets = createSecretBox(parseKeyring(env.SLIPWAY_SECRET_KEYS))
const db = createDb({ url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE })
const redis = new Redis(env.REDIS_URL, { lazyConnect: false })
redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'))
const deps = createAppDeps({
  db,
  redis,
  redisPrefix: env.SLIPWAY_REDIS_PREFIX,
  secrets,
  logger,
  gitEnv: loadGitEnv(),
})

const app = await buildApp(deps, {
  webDist: env.SLIPWAY_WEB_DIST ? path.resolve(env.SLIPWAY_WEB_DIST) : undefined,
  settings: settingsFromEnv(env),
})

let closing = false
async function shutdown(signal: string): Promise<void> {
  if (closing) return
  closing = true
  logger.info({ signal }, 'shutting down')
  await app.close()
  await deps.close()
  await db.$disconnect()
  redis.disconnect()
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))

await app.listen({ host: env.SLIPWAY_HOST, port: env.SLIPWAY_PORT })

// Credentials still inside stored git URLs (from before they were encrypted at rest) move to
// their encrypted column. Not in the way of serving: until a row is moved, git is given its
// URL as stored (projects/git-url.ts), and a failure here is logged and tried at the next start.
whileDatabaseAway(() => sealGitUrlCredentials(db, secrets))
  .then((moved) => {
    if (moved > 0) logger.info({ projects: moved }, 'git URL credentials moved into their encrypted column')
  })
  .catch((error: unknown) =>
    logger.error({ err: error }, 'could not move git URL credentials into their encrypted column'),
  )
