import type { Redis } from 'ioredis'
import { siteKey } from '../names.ts'
import { type CallOptions, redisCall } from '../support/redis-call.ts'

/** One instance as the gateway serves it. */
export interface ServedInstance {
  id: string
  /** Docker host name (with `port`, the instance's registry key). */
  host: string
  /** The IP literal HAProxy connects to. */
  address: string
  port: number
  /** HAProxy's server weight (absent: 1). */
  weight?: number
}

/**
 * What a gateway agent has made live for a site, written after HAProxy confirmed it:
 * `{prefix}/gateway/ack/{project}_{environment}` (JSON, no TTL), announced on
 * `{prefix}/gateway/acks`.
 */
export interface GatewayAck {
  project: string
  environment: string
  listenPort: number
  /** Hash of the rendered site (its file's text): the same servers give the same version. */
  version: string
  /** Servers taking requests, sorted by id. Empty: the site answers 503. */
  instances: ServedInstance[]
  /** True while the agent keeps serving instances whose heartbeats stopped (see README). */
  failStatic: boolean
  appliedAt: string
  agentId: string
  /**
   * Counts the agent's config changes for the site (one more per version made live). Absent
   * from agents that do not track it.
   */
  generation?: number
  /**
   * Highest generation whose removed servers are all deleted from HAProxy: no worker, old
   * ones included, held a request for them any more. Absent when the agent cannot tell.
   */
  drained?: number
}

export function ackKey(prefix: string, project: string, environment: string): string {
  return `${prefix}/gateway/ack/${siteKey(project, environment)}`
}

export function ackChannel(prefix: string): string {
  return `${prefix}/gateway/acks`
}

export async function readAck(
  redis: Redis,
  prefix: string,
  project: string,
  environment: string,
  options: CallOptions = {},
): Promise<GatewayAck | undefined> {
  const text = await redisCall(
    `read gateway ack of ${project}/${environment}`,
    redis.get(ackKey(prefix, project, environment)),
    options,
  )
  return text ? parseAck(text) : undefined
}

/** Sets the ack and announces it, unless the stored ack has a higher generation (see writeAck). */
const writeScript = `
local stored = redis.call('GET', KEYS[1])
if stored then
  local ok, ack = pcall(cjson.decode, stored)
  if ok and type(ack) == 'table' and type(ack.generation) == 'number'
    and ack.generation > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`

/**
 * The stored ack only moves forward: a write whose generation is below the stored one's is
 * dropped (checked and written in one step). Several agents follow one HAProxy, each
 * acknowledging from its own view; one that has not acknowledged the last change yet would
 * otherwise put its older ack back over the newer one (`drained` included), and whoever
 * waits for the newer generation to drain would wait for an ack nobody writes any more.
 * The same generation may be written again (`drained` updated). Resolves false when
 * dropped: the stored ack's writer reports on its own generation.
 */
export async function writeAck(
  redis: Redis,
  prefix: string,
  ack: GatewayAck,
  options: CallOptions = {},
): Promise<boolean> {
  const key = ackKey(prefix, ack.project, ack.environment)
  const work = redis.eval(
    writeScript,
    1,
    key,
    JSON.stringify(ack),
    String(ack.generation ?? 0),
    ackChannel(prefix),
    siteKey(ack.project, ack.environment),
  )
  return (await redisCall(`write gateway ack of ${ack.project}/${ack.environment}`, work, options)) === 1
}

export async function deleteAck(redis: Redis, prefix: string, project: string, environment: string) {
  const work = redis
    .multi()
    .del(ackKey(prefix, project, environment))
    .publish(ackChannel(prefix), siteKey(project, environment))
    .exec()
  await redisCall(`delete gateway ack of ${project}/${environment}`, work)
}

function parseAck(text: string): GatewayAck | undefined {
  try {
    const value = JSON.parse(text) as Partial<GatewayAck>
    if (
      typeof value.project !== 'string' ||
      typeof value.environment !== 'string' ||
      typeof value.version !== 'string' ||
      typeof value.listenPort !== 'number' ||
      !Array.isArray(value.instances)
    )
      return undefined
    const instances = value.instances.filter(
      (instance): instance is ServedInstance =>
        typeof instance?.id === 'string' &&
        typeof instance.host === 'string' &&
        typeof instance.address === 'string' &&
        typeof instance.port === 'number',
    )
    return {
      project: value.project,
      environment: value.environment,
      listenPort: value.listenPort,
      version: value.version,
      instances,
      failStatic: value.failStatic === true,
      appliedAt: String(value.appliedAt ?? ''),
      agentId: String(value.agentId ?? ''),
      generation: counter(value.generation),
      drained: counter(value.drained),
    }
  } catch (error) {
    // Not JSON (a foreign or torn value): no ack.
    if (error instanceof SyntaxError) return undefined
    throw error
  }
}

function counter(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined
}
