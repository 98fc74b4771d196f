import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream, rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeySpec } from '@slipway/core'
import { createDb, type Db } from '@slipway/db'
import { HaproxyProcess } from '@slipway/gateway'
import { createTestDatabase, fleet, freePort, type TestDatabase } from '@slipway/testing/services'
import { Redis } from 'ioredis'
import { aTestFailed, complaints } from './failures.ts'

/** A running Slipway: an API process, worker processes, its own database, Redis prefix and gateway HAProxy. */
export interface Stack {
  url: string
  /** The stack's own database (its URL, for tools such as the migration command). */
  databaseUrl: string
  db: Db
  redis: Redis
  prefix: string
  /** Folder with the processes' logs (kept when a test fails). */
  dir: string
  gatewayDir: string
  workers: Map<string, ChildProcess>
  startWorker(id?: string, env?: Record<string, string>): Promise<string>
  /** kill -9, as a crash. */
  killWorker(id: string): Promise<void>
  /** Stops the API (kill -9 by default, as a crash; SIGTERM as an upgrade does) and starts it again. */
  restartApi(signal?: NodeJS.Signals): Promise<void>
  /** Another API process on the same database and Redis (as behind a load balancer): its URL. */
  startApi(): Promise<string>
  /** kill -9 an API started by startApi. */
  killApi(url: string): Promise<void>
  stopWorker(id: string): Promise<void>
  stop(): Promise<void>
}

const root = path.resolve(import.meta.dirname, '../..')

/**
 * Starts an app from source (through tsx), or from a production build's folder (plain node,
 * as `./slipway start` runs it).
 */
function spawnApp(
  app: 'api' | 'worker',
  env: Record<string, string>,
  logFile: string,
  built?: string,
): ChildProcess {
  const args = built
    ? ['--enable-source-maps', path.join(built, app, 'main.mjs')]
    : ['--import', 'tsx', 'src/main.ts']
  const child = spawn(process.execPath, args, {
    cwd: path.join(root, 'apps', app),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const log = createWriteStream(logFile, { flags: 'a' })
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  return child
}

/** The production build of the API and the worker, into `outdir` (its api/ and worker/ folders). */
async function buildServer(outdir: string): Promise<string> {
  const child = spawn(process.execPath, [path.join(root, 'scripts/build-server.mjs'), '--outdir', outdir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let errors = ''
  child.stderr?.on('data', (chunk) => {
    errors += chunk
  })
  const [code] = await once(child, 'exit')
  if (code !== 0) throw new Error(`the production build failed (exit ${code}): ${errors}`)
  return outdir
}

let shared: Promise<string> | undefined

/**
 * The production build every stack of this test process runs (built on first use, ~1 s;
 * removed when the process exits). Starting the API and workers from it takes about half the
 * time tsx takes, for every process a test starts.
 */
function sharedBuild(): Promise<string> {
  shared ??= mkdtemp(path.join(tmpdir(), 'slipway-e2e-build-')).then((dir) => {
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    return buildServer(dir)
  })
  return shared
}

async function waitHttp(url: string, child: ChildProcess, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) })
      if (response.ok) return
    } catch {}
    await sleep(100)
  }
  throw new Error(`${what} did not answer ${url} within ${ms} ms`)
}

async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  ms = 30_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  await exited
  clearTimeout(timer)
}

export async function startStack(
  options: {
    workers?: number
    workerEnv?: Record<string, string>
    redisUrl?: string
    /** A database with the schema that the test owns (default: a fresh one on the fleet's server). */
    databaseUrl?: string
    /**
     * Run the production build (scripts/build-server.mjs, as `./slipway start` and servers do;
     * made once per test process): the default. false: the sources, through tsx.
     */
    production?: boolean
  } = {},
): Promise<Stack> {
  const redisUrl = options.redisUrl ?? fleet().redisUrl
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-e2e-'))
  const database: Pick<TestDatabase, 'url' | 'drop'> = options.databaseUrl
    ? { url: options.databaseUrl, drop: async () => undefined }
    : await createTestDatabase()
  const prefix = `e2e${randomBytes(4).toString('hex')}`
  const built = options.production === false ? undefined : await sharedBuild()
  const gatewayDir = path.join(dir, 'gateway')
  await mkdir(gatewayDir, { recursive: true })
  const haproxy = await HaproxyProcess.start({ dir: gatewayDir, port: await freePort() })
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const shared = {
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    SLIPWAY_SECRET_KEYS: generateKeySpec('e2e'),
    SLIPWAY_REDIS_PREFIX: prefix,
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'info',
  }
  const apiEnv = { ...shared, SLIPWAY_PORT: String(port), SLIPWAY_WEB_DIST: process.env.E2E_WEB_DIST ?? '' }
  let api = spawnApp('api', apiEnv, path.join(dir, 'api.log'), built)
  await waitHttp(`${url}/healthz`, api, 'the API')

  const workers = new Map<string, ChildProcess>()
  const extraApis = new Map<string, ChildProcess>()
  let counter = 0
  const startWorker = async (id = `w${++counter}`, env: Record<string, string> = {}) => {
    const child = spawnApp(
      'worker',
      {
        ...shared,
        WORKER_ID: id,
        WORKER_CONCURRENCY: '4',
        WORKER_SHUTDOWN_GRACE_SECONDS: '5',
        WORKER_WORK_DIR: path.join(dir, 'work', id),
        GATEWAY_DIR: gatewayDir,
        SLIPWAY_PUBLIC_URL: url,
        HOST_PROBE_INTERVAL_SECONDS: '5',
        ...options.workerEnv,
        ...env,
      },
      path.join(dir, `worker-${id}.log`),
      built,
    )
    workers.set(id, child)
    await new Promise((resolve) => setTimeout(resolve, 300))
    if (child.exitCode !== null) throw new Error(`worker ${id} exited with code ${child.exitCode}`)
    return id
  }
  for (let i = 0; i < (options.workers ?? 1); i++) await startWorker()

  const db = createDb({ url: database.url, poolSize: 4 })
  const redis = new Redis(redisUrl)
  redis.on('error', () => undefined)
  return {
    url,
    databaseUrl: database.url,
    db,
    redis,
    prefix,
    dir,
    gatewayDir,
    workers,
    startWorker,
    async restartApi(signal = 'SIGKILL') {
      await stopChild(api, signal)
      api = spawnApp('api', apiEnv, path.join(dir, 'api.log'), built)
      await waitHttp(`${url}/healthz`, api, 'the API')
    },
    async startApi() {
      const extraPort = await freePort()
      const extraUrl = `http://127.0.0.1:${extraPort}`
      const child = spawnApp(
        'api',
        { ...apiEnv, SLIPWAY_PORT: String(extraPort) },
        path.join(dir, `api-${extraPort}.log`),
        built,
      )
      extraApis.set(extraUrl, child)
      await waitHttp(`${extraUrl}/healthz`, child, `the API on ${extraPort}`)
      return extraUrl
    },
    async killApi(extraUrl) {
      const child = extraApis.get(extraUrl)
      if (child) await stopChild(child, 'SIGKILL')
    },
    async killWorker(id) {
      const child = workers.get(id)
      if (child) await stopChild(child, 'SIGKILL')
    },
    async stopWorker(id) {
      const child = workers.get(id)
      if (child) await stopChild(child)
    },
    async stop() {
      await Promise.all([...workers.values()].map((child) => stopChild(child)))
      await Promise.all([...extraApis.values()].map((child) => stopChild(child)))
      await stopChild(api)
      await haproxy.stop()
      await db.$disconnect()
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length) await redis.del(...keys)
      redis.disconnect()
      await database.drop()
      if (aTestFailed()) {
        console.error(`[e2e] a test failed; the stack's logs are kept in ${dir}\n${await complaints(dir)}`)
      } else if (!process.env.E2E_KEEP) {
        await rm(dir, { recursive: true, force: true })
      }
    },
  }
}
