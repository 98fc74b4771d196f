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
