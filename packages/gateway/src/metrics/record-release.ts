import type { TrafficReport } from '@slipway/contracts'
import type { Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import { readTraffic, waitForTraffic } from './report.ts'

/** The one database call this needs (a Prisma client has it). */
export interface ReleaseTrafficDb {
  release: {
    update(args: { where: { id: string }; data: { traffic: TrafficReport } }): Promise<unknown>
  }
}

export interface RecordReleaseTrafficOptions {
  db: ReleaseTrafficDb
  redis: Redis
  prefix: string
  releaseId: string
  project: string
  environment: string
  /** The rollout's window, unix ms. */
  fromMs: number
  toMs: number
  /** How long to wait for the recorder to write past `toMs`. Default 3 s. */
  waitMs?: number
  logger?: Logger
  signal?: AbortSignal
}

/**
 * After a rollout: waits (bounded) until the traffic recorder has written past the window's
 * end, reads what the gateway saw and stores it in `Release.traffic`. When the recorder is
 * behind (or not running), it stores what there is, with `complete: false`, and logs it.
 */
export async function recordReleaseTraffic(options: RecordReleaseTrafficOptions): Promise<TrafficReport> {
  const { db, redis, prefix, releaseId, project, environment, fromMs, toMs } = options
  const caughtUp = await waitForTraffic(redis, prefix, toMs, {
    timeoutMs: options.waitMs ?? 3000,
    signal: options.signal,
  })
  const report = await readTraffic(redis, prefix, project, environment, fromMs, toMs, {
    signal: options.signal,
  })
  if (!caughtUp)
    options.logger?.warn(
      { releaseId, project, environment, toMs, recordedUntilMs: report.recordedUntilMs },
      'traffic recorder had not written up to the end of the rollout; storing what there is (complete: false)',
    )
  await db.release.update({ where: { id: releaseId }, data: { traffic: report } })
  return report
}
