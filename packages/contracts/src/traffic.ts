import { z } from 'zod'

const Count = z.number().int().min(0)

/** Failed requests by cause (see docs/ARCHITECTURE.md "What the gateway saw"). */
export const TrafficFailures = z.object({
  /** The client got no status, or a response cut short on the server or proxy side. */
  connection: Count,
  /** A 5xx HAProxy wrote itself: no server, refused, timed out, closed before answering. */
  gateway5xx: Count,
  /** A 5xx the application answered. */
  app5xx: Count,
})
export type TrafficFailures = z.infer<typeof TrafficFailures>

export const TrafficTotals = z.object({
  /** Every request the gateway logged for the environment in the window. */
  requests: Count,
  /** Whole answers below 500 (the application's 4xx included). */
  ok: Count,
  /** connection + gateway5xx + app5xx. */
  failed: Count,
  failedBy: TrafficFailures,
  /** Requests the client closed or let time out first: not failures. */
  clientAborts: Count,
  /** Requests that needed a connection retry (answered or not). */
  retried: Count,
})
export type TrafficTotals = z.infer<typeof TrafficTotals>

const LatencyMs = z.object({ p50: z.number().nullable(), p99: z.number().nullable() })

/** What one release's servers answered in the window: a canary's figures per version. */
export const ReleaseTraffic = z.object({
  /** Requests that reached a server of the release. */
  requests: Count,
  /** Connection errors and 5xx among them. */
  errors: Count,
  latencyMs: LatencyMs,
})
export type ReleaseTraffic = z.infer<typeof ReleaseTraffic>

/** One step of the series (`stepSeconds` long, starting at `t`). */
export const TrafficPoint = z.object({
  /** Start of the step, unix ms. */
  t: z.number().int(),
  /**
   * Requests that reached a server, by the server's release id (`unknown` when the
   * recorder could not tell). Requests with no server (a 503 of an empty backend) are only
   * in `failed`.
   */
  byRelease: z.record(z.string(), Count),
  /** Failed requests of the step, every cause. */
  failed: Count,
})
export type TrafficPoint = z.infer<typeof TrafficPoint>

/** What the gateway saw for one environment during a window (a rollout's). */
export const TrafficReport = z.object({
  /** The window, unix ms (seconds are whole: from is rounded down, to up). */
  fromMs: z.number().int(),
  toMs: z.number().int(),
  /** Seconds per point of `series`: 1, more for long windows (at most 1800 points). */
  stepSeconds: z.number().int().min(1),
  totals: TrafficTotals,
  /** HAProxy's `%Ta` (first request byte to last response byte), client aborts excluded; ~5% precision. */
  latencyMs: LatencyMs,
  /** By release id (`unknown` when the recorder could not tell); empty in reports made before it was recorded. */
  releases: z.record(z.string(), ReleaseTraffic).default({}),
  /** Every step of the window, zeros included. */
  series: z.array(TrafficPoint),
  /** Unix ms up to which the recorder had written when the report was read (null: never). */
  recordedUntilMs: z.number().int().nullable(),
  /** False when the recorder had not written up to `toMs`: the report misses the end. */
  complete: z.boolean(),
})
export type TrafficReport = z.infer<typeof TrafficReport>
