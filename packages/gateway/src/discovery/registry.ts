import { DiscoveryEntry, Instance } from '@slipway/contracts'
import { AppError, type Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import { assertAddress, assertToken, memberKey } from '../names.ts'
import { type CallOptions, redisCall } from '../support/redis-call.ts'
import { Subscriber } from '../support/subscriber.ts'
import { discoveryKeys } from './keys.ts'
import { type RegistryWatch, type SiteSnapshot, type WatchOptions, watchSite } from './watch.ts'

export type { SiteSnapshot } from './watch.ts'

export interface DiscoveryRegistryOptions {
  redis: Redis
  /** Key prefix of every key and channel (tests use a unique one). */
  prefix: string
  logger?: Logger
  /** How long a member whose entry expired stays known as "expired" (default 7 days). */
  expiredRetentionSeconds?: number
}

const heartbeatScript = `
local id = redis.call('HGET', KEYS[1], 'id')
if id ~= ARGV[1] then return 0 end
local ttl = redis.call('HGET', KEYS[1], 'ttlMs')
redis.call('HSET', KEYS[1], 'lastHeartbeatAt', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ttl), ARGV[4])
return 1`

const deregisterScript = `
local id = redis.call('HGET', KEYS[1], 'id')
if id and id ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local removed = redis.call('ZREM', KEYS[2], ARGV[2])
if id or removed == 1 then
  redis.call('PUBLISH', KEYS[3], 'deregister ' .. ARGV[2])
  return 1
end
return 0`

/**
 * The live instance registry (article 001 over Redis): an entry per instance with a TTL,
 * refreshed by heartbeats, removed on deregister or when its heartbeats stop.
 */
export class DiscoveryRegistry {
  readonly #redis: Redis
  readonly #prefix: string
  readonly #retentionMs: number
  readonly #subscriber: Subscriber

  constructor(options: DiscoveryRegistryOptions) {
    this.#redis = options.redis
    this.#prefix = options.prefix
    this.#retentionMs = (options.expiredRetentionSeconds ?? 7 * 24 * 3600) * 1000
    this.#subscriber = new Subscriber(options.redis, options.logger)
  }

  /** Adds (or replaces) the instance's entry; it expires after `ttlSeconds` without heartbeat. */
  async register(instance: Instance, ttlSeconds: number, options: CallOptions = {}): Promise<void> {
    await this.swap([instance], [], ttlSeconds, options)
  }

  /**
   * Registers `adding` and deregisters `removing` in one transaction, so that a watcher sees
   * either none of it or all of it: one gateway change replaces instances by others. All of
   * them must belong to one site.
   */
  async swap(
    adding: readonly Instance[],
    removing: readonly Instance[],
    ttlSeconds: number,
    options: CallOptions = {},
  ): Promise<void> {
    const valid = [...adding, ...removing].map(parseInstance)
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400)
      throw new AppError('VALIDATION_FAILED', `ttlSeconds ${ttlSeconds} is invalid: expected 1 to 86400`)
    const [first] = valid
    if (!first) return
    const sites = new Set(valid.map((v) => `${v.project}/${v.environment}`))
    if (sites.size > 1)
      throw new AppError('VALIDATION_FAILED', `one swap changes one site, not ${[...sites].join(', ')}`)
    const keys = discoveryKeys(this.#prefix, first.project, first.environment)
    const ttlMs = Math.round(ttlSeconds * 1000)
    const now = Date.now()
    const at = new Date(now).toISOString()
    const work = this.#redis.multi()
    for (const instance of valid.slice(0, adding.length)) {
      const member = memberKey(instance.host, instance.port)
      const entry = keys.entryOf(member)
      work
        .del(entry)
        .hset(entry, {
          id: instance.id,
          instance: JSON.stringify(instance),
          registeredAt: at,
          lastHeartbeatAt: at,
          ttlMs,
        })
        .pexpire(entry, ttlMs)
        .zadd(keys.index, now + ttlMs, member)
        .publish(keys.channel, `register ${member}`)
    }
    for (const instance of valid.slice(adding.length)) {
      const member = memberKey(instance.host, instance.port)
      work.eval(deregisterScript, 3, keys.entryOf(member), keys.index, keys.channel, instance.id, member)
    }
    const what = valid.length === 1 ? `register ${first.id}` : `swap ${valid.map((v) => v.id).join(', ')}`
    await redisCall(what, work.exec(), options)
  }

  /**
   * Refreshes the entry's TTL. False when the entry is gone (expired or deregistered) or now
   * belongs to another instance: a heartbeat never brings back an instance taken out.
   */
  async heartbeat(instance: Instance, options: CallOptions = {}): Promise<boolean> {
    const valid = parseInstance(instance)
    const keys = discoveryKeys(this.#prefix, valid.project, valid.environment)
    const member = memberKey(valid.host, valid.port)
    const now = Date.now()
    const args = [valid.id, new Date(now).toISOString(), String(now), member]
    const work = this.#redis.eval(heartbeatScript, 2, keys.entryOf(member), keys.index, ...args)
    return (await redisCall(`heartbeat ${valid.id}`, work, options)) === 1
  }

  /** Removes the instance's entry now (not waiting for its TTL). False if it was not there. */
  async deregister(instance: Instance, options: CallOptions = {}): Promise<boolean> {
    const valid = parseInstance(instance)
    const keys = discoveryKeys(this.#prefix, valid.project, valid.environment)
    const member = memberKey(valid.host, valid.port)
    const work = this.#redis.eval(
      deregisterScript,
      3,
      keys.entryOf(member),
      keys.index,
      keys.channel,
      valid.id,
      member,
    )
    return (await redisCall(`deregister ${valid.id}`, work, options)) === 1
  }

  /** Live instances of a site (what `GET /api/discovery/:project/:env` answers). */
  async list(project: string, environment: string, options: CallOptions = {}): Promise<DiscoveryEntry[]> {
    return (await this.snapshot(project, environment, options)).entries
  }

  /** Live entries plus the members that expired without being deregistered. */
  async snapshot(project: string, environment: string, options: CallOptions = {}): Promise<SiteSnapshot> {
    const keys = discoveryKeys(this.#prefix, project, environment)
    const what = `list ${project}/${environment}`
    const now = Date.now()
    const [, members] = await redisCall(
      what,
      Promise.all([
        this.#redis.zremrangebyscore(keys.index, '-inf', now - this.#retentionMs),
        this.#redis.zrange(keys.index, 0, -1),
      ]),
      options,
    )
    if (members.length === 0) return { entries: [], expired: [] }
    const pipeline = this.#redis.pipeline()
    for (const member of members) {
      const entry = keys.entryOf(member)
      pipeline.hmget(entry, 'instance', 'registeredAt', 'lastHeartbeatAt').pttl(entry)
    }
    const replies = (await redisCall(what, pipeline.exec(), options)) ?? []
    const entries: DiscoveryEntry[] = []
    const expired: string[] = []
    members.forEach((member, index) => {
      const [fieldsError, fields] = replies[index * 2] ?? []
      const [, pttl] = replies[index * 2 + 1] ?? []
      const [instance, registeredAt, lastHeartbeatAt] = (fields as (string | null)[] | undefined) ?? []
      if (fieldsError || !instance || typeof pttl !== 'number' || pttl === -2) {
        expired.push(member)
        return
      }
      const parsed = DiscoveryEntry.safeParse({
        ...safeJson(instance),
        registeredAt,
        lastHeartbeatAt,
        ttlSeconds: Math.max(0, pttl) / 1000,
      })
      if (parsed.success) entries.push(parsed.data)
    })
    entries.sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1))
    return { entries, expired: expired.sort() }
  }

  /**
   * Calls `onChange` with the site's snapshot now and whenever it changes: on register and
   * deregister (pub/sub) and on a periodic resync, so TTL expiry is noticed too.
   */
  watch(
    project: string,
    environment: string,
    onChange: (snapshot: SiteSnapshot) => void,
    options: WatchOptions = {},
  ): Promise<RegistryWatch> {
    const { channel } = discoveryKeys(this.#prefix, project, environment)
    return watchSite({
      subscribe: (handler) => redisCall(`subscribe ${channel}`, this.#subscriber.on(channel, handler)),
      read: (signal) => this.snapshot(project, environment, { signal }),
      onChange,
      options,
    })
  }

  /** Closes the pub/sub connection used by watches (the given client stays open). */
  close(): void {
    this.#subscriber.close()
  }
}

function parseInstance(instance: Instance): Instance {
  const parsed = Instance.safeParse(instance)
  if (!parsed.success)
    throw new AppError('VALIDATION_FAILED', `invalid instance: ${parsed.error.message}`, {
      details: parsed.error.issues,
    })
  memberKey(parsed.data.host, parsed.data.port)
  assertToken('id', parsed.data.id)
  assertAddress('address', parsed.data.address)
  discoveryKeys('', parsed.data.project, parsed.data.environment)
  return parsed.data
}

function safeJson(text: string): object {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null ? value : {}
  } catch (error) {
    if (error instanceof SyntaxError) return {}
    throw error
  }
}
