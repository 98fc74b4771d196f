import { randomBytes } from 'node:crypto'
import { AppError, type Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import { sleep } from '../support/bounded.ts'
import { redisCall } from '../support/redis-call.ts'

export interface LeaseOptions {
  redis: Redis
  /** The lock's key (e.g. `{prefix}/gateway/lock/<gateway name>`). */
  key: string
  /** How long a holder that died keeps the lease (renewed while held). Default 15 s. */
  ttlMs?: number
  /** How long to wait for the lease. Default 60 s. */
  waitMs?: number
  logger?: Logger
}

const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

const renewScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

/**
 * Runs `work` while holding a Redis lease (SET NX PX with a random token, renewed at a third
 * of its TTL, released only by its holder), so two agents never change one HAProxy at once.
 */
export async function withLease<T>(
  options: LeaseOptions,
  signal: AbortSignal | undefined,
  work: () => Promise<T>,
): Promise<T> {
  const { redis, key } = options
  const ttlMs = options.ttlMs ?? 15_000
  const token = randomBytes(12).toString('hex')
  const deadline = Date.now() + (options.waitMs ?? 60_000)
  for (let attempt = 0; ; attempt++) {
    const taken = await redisCall(`lease ${key}`, redis.set(key, token, 'PX', ttlMs, 'NX'), { signal })
    if (taken === 'OK') break
    if (Date.now() > deadline)
      throw new AppError(
        'TIMEOUT',
        `the gateway lease ${key} stayed taken for ${options.waitMs ?? 60_000} ms`,
      )
    await sleep(Math.min(25 * 2 ** Math.min(attempt, 4), 250), signal)
  }
  const renew = setInterval(() => {
    redis.eval(renewScript, 1, key, token, String(ttlMs)).then(
      (kept) => {
        if (kept !== 1) options.logger?.error({ key }, 'gateway lease lost while held')
      },
      (error: unknown) => options.logger?.warn({ err: error, key }, 'gateway lease renewal failed'),
    )
  }, ttlMs / 3)
  try {
    return await work()
  } finally {
    clearInterval(renew)
    await redisCall(`release ${key}`, redis.eval(releaseScript, 1, key, token)).catch((error: unknown) =>
      options.logger?.warn({ err: error, key }, 'gateway lease release failed (it expires by itself)'),
    )
  }
}
