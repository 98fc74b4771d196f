import { AppError } from '@slipway/core'
import type { Redis } from 'ioredis'

export interface RateLimit {
  /** Attempts allowed per window. */
  limit: number
  windowSeconds: number
}

/**
 * Fixed-window counters in Redis, shared by every API process. `hit` counts an attempt and
 * throws RATE_LIMITED past the limit; `check` only reads.
 */
export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(name: string): string {
    return `${this.prefix}:rl:${name}`
  }

  async check(name: string, rule: RateLimit): Promise<void> {
    const count = Number((await this.redis.get(this.key(name))) ?? 0)
    if (count >= rule.limit) throw this.limited(name, rule)
  }

  async hit(name: string, rule: RateLimit): Promise<void> {
    const key = this.key(name)
    const [[, count]] = (await this.redis.multi().incr(key).expire(key, rule.windowSeconds, 'NX').exec()) as [
      [Error | null, number],
    ]
    if (count > rule.limit) throw this.limited(name, rule)
  }

  async reset(name: string): Promise<void> {
    await this.redis.del(this.key(name))
  }

  private limited(name: string, rule: RateLimit): AppError {
    return new AppError('RATE_LIMITED', `too many attempts; try again in up to ${rule.windowSeconds} s`, {
      details: { scope: name.split(':')[0], retryAfterSeconds: rule.windowSeconds },
    })
  }
}

/** How attempts under one name slow down: `free` at once, then waits doubling from `baseMs` up to `capMs`. */
export interface BackoffRule {
  free: number
  baseMs: number
  capMs: number
  /** Failures are forgotten this long after the last attempt (or the last wait, if longer). */
  forgetMs: number
}

/** Wait before the attempt after `count` counted attempts (pure; the Lua script mirrors it). */
export function backoffDelayMs(count: number, rule: BackoffRule): number {
  if (count < rule.free) return 0
  return Math.min(rule.baseMs * 2 ** (count - rule.free), rule.capMs)
}

// KEYS: the counters (hashes {count, at}). ARGV: now, then free, base, cap, forget per key.
// All or nothing: when any counter still waits, nothing changes and the longest wait is
// returned; otherwise every counter counts this attempt and 0 is returned. One script, so a
// burst of parallel attempts cannot all pass one check before any of them is counted.
const takeScript = `
local now = tonumber(ARGV[1])
local function delay(count, free, base, cap)
  if count < free then return 0 end
  return math.min(base * 2 ^ (count - free), cap)
end
local wait = 0
for i, key in ipairs(KEYS) do
  local o = 1 + (i - 1) * 4
  local count = tonumber(redis.call('HGET', key, 'count') or '0')
  local at = tonumber(redis.call('HGET', key, 'at') or '0')
  local left = at + delay(count, tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])) - now
  if left > wait then wait = left end
end
if wait > 0 then return math.ceil(wait) end
for i, key in ipairs(KEYS) do
  local o = 1 + (i - 1) * 4
  local count = redis.call('HINCRBY', key, 'count', 1)
  redis.call('HSET', key, 'at', now)
  local d = delay(count, tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]))
  redis.call('PEXPIRE', key, math.max(d, tonumber(ARGV[o + 4])))
end
return 0
`

// KEYS[1]: a counter; gives back one counted attempt (a success), never below zero.
const refundScript = `
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if count > 1 then redis.call('HINCRBY', KEYS[1], 'count', -1) elseif count == 1 then redis.call('DEL', KEYS[1]) end
return 0
`

/**
 * Exponential backoff per name in Redis, shared by every API process: never a hard lock,
 * only a wait that doubles with each counted attempt and is forgotten after a quiet spell.
 * An attempt is counted before its outcome is known (`take`); a success then clears or
 * gives back what it took (`clear`, `refund`).
 */
export class Backoff {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(name: string): string {
    return `${this.prefix}:rl:backoff:${name}`
  }

  /** Counts an attempt under every name, or throws RATE_LIMITED (counting nothing) while any of them waits. */
  async take(counters: { name: string; rule: BackoffRule }[], scope: string): Promise<void> {
    const args = counters.flatMap(({ rule }) => [rule.free, rule.baseMs, rule.capMs, rule.forgetMs])
    const wait = Number(
      await this.redis.eval(
        takeScript,
        counters.length,
        ...counters.map(({ name }) => this.key(name)),
        Date.now(),
        ...args,
      ),
    )
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000)
      throw new AppError('RATE_LIMITED', `too many attempts; try again in ${seconds} s`, {
        details: { scope, retryAfterSeconds: seconds },
      })
    }
  }

  async refund(name: string): Promise<void> {
    await this.redis.eval(refundScript, 1, this.key(name))
  }

  async clear(name: string): Promise<void> {
    await this.redis.del(this.key(name))
  }
}
