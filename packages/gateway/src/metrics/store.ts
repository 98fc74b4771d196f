import type { Redis } from 'ioredis'
import { siteKey } from '../names.ts'
import { type CallOptions, redisCall } from '../support/redis-call.ts'

/**
 * Redis layout of the traffic recorder:
 *
 *   {prefix}/traffic/{project}_{environment}   stream: one entry per second with requests,
 *                                              id `<second's unix ms>-0`, field `d` (JSON
 *                                              SecondRecord); MAXLEN ~ 2 days of seconds
 *   {prefix}/traffic/written                   hash: `second` (unix ms of the last second
 *                                              written, every site), `anchors` (JSON: per
 *                                              HAProxy worker, the ring lines that end it)
 *   {prefix}/traffic/lease                     the writing recorder's token (SET NX PX)
 */
export function trafficKeys(prefix: string) {
  return {
    lease: `${prefix}/traffic/lease`,
    written: `${prefix}/traffic/written`,
    stream: (project: string, environment: string) => `${prefix}/traffic/${siteKey(project, environment)}`,
    streamOf: (key: string) => `${prefix}/traffic/${key}`,
  }
}

/** Entries a site's stream keeps: two days of seconds (`XADD ... MAXLEN ~`). */
export const streamMaxLength = 2 * 24 * 3600

/** Where the writing recorder got to: every second up to `secondMs` is in the streams. */
export interface WrittenMark {
  secondMs: number
  /** Per HAProxy worker (`pid@start`): the last ring lines accounted for up to `secondMs`. */
  anchors: Record<string, string[]>
}

export async function readWritten(
  redis: Redis,
  prefix: string,
  options: CallOptions = {},
): Promise<WrittenMark | undefined> {
  const key = trafficKeys(prefix).written
  const [second, anchors] = await redisCall(`read ${key}`, redis.hmget(key, 'second', 'anchors'), options)
  if (second === null || second === undefined) return undefined
  return { secondMs: Number(second), anchors: parseAnchors(anchors) }
}

function parseAnchors(text: string | null | undefined): Record<string, string[]> {
  if (!text) return {}
  const value: unknown = JSON.parse(text)
  if (typeof value !== 'object' || value === null) return {}
  const anchors: Record<string, string[]> = {}
  for (const [worker, lines] of Object.entries(value))
    if (Array.isArray(lines) && lines.every((line) => typeof line === 'string')) anchors[worker] = lines
  return anchors
}

/**
 * Writes finished seconds, only while holding the lease, and never a second at or before the
 * last one written (a recorder that lost its lease, or a stale one, writes nothing):
 * KEYS = lease, written, streams...; ARGV = token, last second ms, anchors JSON, maxlen,
 * then per stream: second ms, JSON. Returns 1 written, 0 lease lost, -1 already written.
 */
const writeScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local last = redis.call('HGET', KEYS[2], 'second')
if last and tonumber(last) >= tonumber(ARGV[2]) then return -1 end
for i = 3, #KEYS do
  local at = 5 + (i - 3) * 2
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[4], ARGV[at] .. '-0', 'd', ARGV[at + 1])
end
redis.call('HSET', KEYS[2], 'second', ARGV[2], 'anchors', ARGV[3])
return 1`

export interface SecondWrite {
  /** `{project}_{environment}` */
  site: string
  secondMs: number
  json: string
}

export type WriteResult = 'written' | 'lease-lost' | 'already-written'

/** Writes `entries` (sorted by second) and moves the mark to `upToMs`, in one script. */
export async function writeSeconds(
  redis: Redis,
  prefix: string,
  lease: string,
  upToMs: number,
  anchors: Record<string, string[]>,
  entries: readonly SecondWrite[],
  options: CallOptions = {},
): Promise<WriteResult> {
  const keys = trafficKeys(prefix)
  const args: string[] = [lease, String(upToMs), JSON.stringify(anchors), String(streamMaxLength)]
  for (const entry of entries) args.push(String(entry.secondMs), entry.json)
  const streams = entries.map((entry) => keys.streamOf(entry.site))
  const work = redis.eval(writeScript, 2 + streams.length, keys.lease, keys.written, ...streams, ...args)
  const result = await redisCall(`write traffic up to ${upToMs}`, work, options)
  return result === 1 ? 'written' : result === 0 ? 'lease-lost' : 'already-written'
}
