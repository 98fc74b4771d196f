import type { CanaryFigures, TrafficPoint, TrafficReport } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { Redis } from 'ioredis'
import { sleep } from '../support/bounded.ts'
import { type CallOptions, redisCall } from '../support/redis-call.ts'
import { LatencyHistogram } from './histogram.ts'
import { readWritten, streamMaxLength, trafficKeys } from './store.ts'
import type { SecondRecord } from './tally.ts'

/** A report's series has at most this many points; longer windows get longer steps. */
const maxSeriesPoints = 1800
const pageSize = 1000
const counters = ['requests', 'ok', 'connection', 'gateway5xx', 'app5xx', 'clientAborts', 'retried'] as const

/**
 * What the gateway saw for one environment from `fromMs` to `toMs` (whole seconds: from is
 * rounded down, to up), merged from the recorder's stream: totals, p50/p99 of the merged
 * latency histograms, and a series of requests per release and failures, zeros included.
 */
export async function readTraffic(
  redis: Redis,
  prefix: string,
  project: string,
  environment: string,
  fromMs: number,
  toMs: number,
  options: CallOptions = {},
): Promise<TrafficReport> {
  const from = Math.floor(fromMs / 1000) * 1000
  const to = Math.max(from + 1000, Math.ceil(toMs / 1000) * 1000)
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || toMs < fromMs)
    throw new AppError('VALIDATION_FAILED', `traffic window ${fromMs}..${toMs} is invalid`)
  if ((to - from) / 1000 > streamMaxLength)
    throw new AppError(
      'VALIDATION_FAILED',
      `traffic windows are at most ${streamMaxLength} s (what the streams keep)`,
    )
  const key = trafficKeys(prefix).stream(project, environment)
  const stepSeconds = Math.max(1, Math.ceil((to - from) / 1000 / maxSeriesPoints))
  const stepMs = stepSeconds * 1000
  const series: TrafficPoint[] = []
  for (let t = from; t < to; t += stepMs) series.push({ t, byRelease: {}, failed: 0 })
  const totals = Object.fromEntries(counters.map((name) => [name, 0])) as Record<
    (typeof counters)[number],
    number
  >
  const latency = new LatencyHistogram()
  const releases = new Map<string, { requests: number; errors: number; latency: LatencyHistogram }>()

  let start = `${from}-0`
  // A window holds at most `streamMaxLength` seconds: that many pages at most.
  for (let pages = 0; pages <= Math.ceil(streamMaxLength / pageSize); pages++) {
    const page = await redisCall(
      `read ${key}`,
      redis.xrange(key, start, `${to - 1000}-0`, 'COUNT', pageSize),
      options,
    )
    for (const [id, fields] of page) {
      const secondMs = Number(id.split('-')[0])
      const record = parseRecord(key, id, fields)
      for (const name of counters) totals[name] += record[name]
      latency.merge(LatencyHistogram.fromPairs(record.latency))
      for (const [release, figures] of Object.entries(record.releases ?? {})) {
        const into = releases.get(release) ?? { requests: 0, errors: 0, latency: new LatencyHistogram() }
        into.requests += figures.requests
        into.errors += figures.errors
        into.latency.merge(LatencyHistogram.fromPairs(figures.latency))
        releases.set(release, into)
      }
      const point = series[Math.floor((secondMs - from) / stepMs)]
      if (!point) continue
      point.failed += record.connection + record.gateway5xx + record.app5xx
      for (const [release, count] of Object.entries(record.byRelease))
        point.byRelease[release] = (point.byRelease[release] ?? 0) + count
    }
    const last = page.at(-1)
    if (page.length < pageSize || !last) break
    const [ms, seq] = last[0].split('-')
    start = `${ms}-${Number(seq) + 1}`
  }

  const written = await readWritten(redis, prefix, options)
  const recordedUntilMs = written ? written.secondMs + 1000 : null
  return {
    fromMs: from,
    toMs: to,
    stepSeconds,
    totals: {
      requests: totals.requests,
      ok: totals.ok,
      failed: totals.connection + totals.gateway5xx + totals.app5xx,
      failedBy: { connection: totals.connection, gateway5xx: totals.gateway5xx, app5xx: totals.app5xx },
      clientAborts: totals.clientAborts,
      retried: totals.retried,
    },
    latencyMs: { p50: round(latency.percentile(0.5)), p99: round(latency.percentile(0.99)) },
    releases: Object.fromEntries(
      [...releases].map(([release, figures]) => [
        release,
        {
          requests: figures.requests,
          errors: figures.errors,
          latencyMs: {
            p50: round(figures.latency.percentile(0.5)),
            p99: round(figures.latency.percentile(0.99)),
          },
        },
      ]),
    ),
    series,
    recordedUntilMs,
    complete: recordedUntilMs !== null && recordedUntilMs >= to,
  }
}

/** Unix ms up to which the recorder has written every site (undefined: nothing yet). */
export async function trafficRecordedUntil(redis: Redis, prefix: string, options: CallOptions = {}) {
  const written = await readWritten(redis, prefix, options)
  return written ? written.secondMs + 1000 : undefined
}

/**
 * Waits until the recorder has written every second before `untilMs` (the second holding it
 * included unless `untilMs` is a whole second), at most `timeoutMs`. True when it has, false when the wait ran out.
 */
export async function waitForTraffic(
  redis: Redis,
  prefix: string,
  untilMs: number,
  options: { timeoutMs?: number; pollMs?: number; signal?: AbortSignal } = {},
): Promise<boolean> {
  const deadline = Date.now() + (options.timeoutMs ?? 3000)
  // The end of a report's window: the second holding `untilMs` (ends are exclusive).
  const needMs = Math.ceil(untilMs / 1000) * 1000
  for (;;) {
    const until = await trafficRecordedUntil(redis, prefix, { signal: options.signal })
    if (until !== undefined && until >= needMs) return true
    if (Date.now() >= deadline) return false
    await sleep(Math.min(options.pollMs ?? 100, Math.max(1, deadline - Date.now())), options.signal)
  }
}

function round(value: number | undefined): number | null {
  return value === undefined ? null : Math.round(value * 100) / 100
}

function parseRecord(key: string, id: string, fields: string[]): SecondRecord {
  const text = fields[fields.indexOf('d') + 1]
  let value: unknown
  try {
    value = JSON.parse(text ?? '')
  } catch (error) {
    throw corrupt(key, id, error)
  }
  const record = value as Partial<SecondRecord> | null
  const valid =
    typeof record === 'object' &&
    record !== null &&
    counters.every((name) => Number.isInteger(record[name])) &&
    typeof record.byRelease === 'object' &&
    record.byRelease !== null &&
    Array.isArray(record.latency) &&
    (record.releases === undefined ||
      (typeof record.releases === 'object' &&
        record.releases !== null &&
        Object.values(record.releases).every(
          (figures) =>
            Number.isInteger(figures?.requests) &&
            Number.isInteger(figures?.errors) &&
            Array.isArray(figures?.latency),
        )))
  if (!valid) throw corrupt(key, id)
  return record as SecondRecord
}

function corrupt(key: string, id: string, cause?: unknown): AppError {
  return new AppError('INTERNAL', `traffic entry ${key} ${id} is not a recorder's second`, { cause })
}

/**
 * What a canary is judged on: each release's requests, errors and p99 from `fromMs` until now,
 * and the requests HAProxy retried on another server in that window.
 */
export async function readReleaseFigures(
  redis: Redis,
  prefix: string,
  site: { project: string; environment: string },
  fromMs: number,
  options: CallOptions = {},
): Promise<{ releases: Record<string, CanaryFigures>; retried: number }> {
  const report = await readTraffic(redis, prefix, site.project, site.environment, fromMs, Date.now(), options)
  const releases = Object.fromEntries(
    Object.entries(report.releases).map(([release, seen]) => [
      release,
      { requests: seen.requests, errors: seen.errors, p99Ms: seen.latencyMs.p99 },
    ]),
  )
  return { releases, retried: report.totals.retried }
}
