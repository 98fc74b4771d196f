import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeySpec } from '@slipway/core'
// The Prisma client the API uses, for seeding and for the bare-query baselines.
import { createDb, type Db } from '@slipway/db'
import { createTestDatabase, fleet } from '@slipway/testing/services'
import { Redis } from 'ioredis'

/**
 * A real API process (apps/api/src/main.ts) on 127.0.0.1, over a fresh database copied from
 * the test template and its own Redis prefix; no workers, so queued jobs stay queued.
 */
export interface ApiServer {
  url: string
  db: Db
  redis: Redis
  prefix: string
  logFile: string
  stop(): Promise<void>
}

const apiDir = path.resolve(import.meta.dirname, '../../apps/api')

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (!address || typeof address === 'string') throw new Error('no free port')
  return address.port
}

async function waitHealthy(url: string, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the API exited with code ${child.exitCode}`)
    try {
      if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) return
    } catch {}
    await sleep(100)
  }
  throw new Error(`the API did not answer ${url}/healthz within ${ms} ms`)
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  for (let round = 0; round < 100_000; round++) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    if (keys.length) await redis.del(...keys)
    cursor = next
    if (cursor === '0') break
  }
}

export async function startApi(options: {
  logLevel: string
  poolSize: number
  keepLog?: boolean
}): Promise<ApiServer> {
  const database = await createTestDatabase()
  const prefix = `bench${randomBytes(4).toString('hex')}`
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-bench-api-'))
  const logFile = path.join(dir, 'api.log')
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: apiDir,
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      DATABASE_POOL_SIZE: String(options.poolSize),
      REDIS_URL: fleet().redisUrl,
      SLIPWAY_SECRET_KEYS: generateKeySpec('bench'),
      SLIPWAY_REDIS_PREFIX: prefix,
      SLIPWAY_HOST: '127.0.0.1',
      SLIPWAY_PORT: String(port),
      SLIPWAY_WEB_DIST: '',
      LOG_LEVEL: options.logLevel,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const log = createWriteStream(logFile)
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  const url = `http://127.0.0.1:${port}`
  const db = createDb({ url: database.url, poolSize: options.poolSize })
  const redis = new Redis(fleet().redisUrl, { maxRetriesPerRequest: null })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    }
    await db.$disconnect()
    await deleteKeys(redis, prefix)
    redis.disconnect()
    await database.drop()
    if (!options.keepLog) await rm(dir, { recursive: true, force: true })
  }
  try {
    await waitHealthy(url, child, 60_000)
  } catch (error) {
    await stop()
    throw error
  }
  return { url, db, redis, prefix, logFile, stop }
}

/** First-run setup through the API, then a personal token: what automation would hold. */
export async function adminToken(url: string): Promise<string> {
  const setup = await fetch(`${url}/api/auth/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'bench@example.com', name: 'Bench', password: 'bench password 1' }),
  })
  if (setup.status !== 201) throw new Error(`setup: ${setup.status} ${await setup.text()}`)
  const cookie = (setup.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const { csrfToken } = (await setup.json()) as { csrfToken: string }
  const created = await fetch(`${url}/api/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken },
    body: JSON.stringify({ name: 'bench' }),
  })
  if (created.status !== 201) throw new Error(`token: ${created.status} ${await created.text()}`)
  return ((await created.json()) as { token: string }).token
}

/** JSON request with a token; throws on an unexpected status. */
export async function api(
  url: string,
  token: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await response.text()
  if (response.status >= 300) throw new Error(`${method} ${route}: ${response.status} ${text.slice(0, 300)}`)
  return { status: response.status, body: text ? JSON.parse(text) : null }
}
