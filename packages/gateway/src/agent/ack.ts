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

export async function writeAck(redis: Redis, prefix: string, ack: GatewayAck, options: CallOptions = {}) {
  const key = ackKey(prefix, ack.project, ack.environment)
  const work = redis
    .multi()
    .set(key, JSON.stringify(ack))
    .publish(ackChannel(prefix), siteKey(ack.project, ack.environment))
    .exec()
  await redisCall(`write gateway ack of ${ack.project}/${ack.environment}`, work, options)
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
  } catch {
    return undefined
  }
}

function counter(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined
}
