import type { Db, Prisma } from '@slipway/db'
import { enqueueInTx } from '@slipway/jobs'
import { type Change, finishStage, lockPipelineRow } from '../pipelines/transitions.ts'
import { enqueueStageRun } from './enqueue.ts'
import { maxAttempts, type RunnableKind, triesUsed } from './outcome.ts'

/** A queued stage older than this without a worker gets its job sent again (harmless if not lost). */
const requeueAfterMs = 2 * 60_000
/** Extra time after a lease expires before the reaper steps in (a slow heartbeat is not death). */
export const reapGraceMs = 5_000

export interface StaleStage {
  id: string
  pipelineId: string
  kind: string
  retryBase: number
  attempt: number
  leaseOwner: string | null
}

/** Running stages whose worker stopped renewing their lease (past the grace period). */
export function staleStages(db: Db, now: number): Promise<StaleStage[]> {
  return db.stage.findMany({
    where: {
      status: 'running',
      kind: { not: 'approval' },
      leaseExpiresAt: { lt: new Date(now - reapGraceMs) },
    },
    select: { id: true, pipelineId: true, kind: true, attempt: true, retryBase: true, leaseOwner: true },
  })
}

/**
 * Releases a stale stage for another attempt, or fails it when it has used its attempts. The
 * stage is checked again under the locks: one that a worker finished, renewed or that another
 * attempt took over since it was read is left alone (null).
 */
export async function reapStage(
  tx: Prisma.TransactionClient,
  stale: StaleStage,
  now: number,
): Promise<Change | null> {
  await lockPipelineRow(tx, stale.pipelineId)
  const current = await tx.stage.findUnique({ where: { id: stale.id } })
  if (
    !current ||
    current.status !== 'running' ||
    current.attempt !== stale.attempt ||
    !current.leaseExpiresAt ||
    current.leaseExpiresAt.getTime() >= now - reapGraceMs
  )
    return null
  if (current.kind === 'deploy' && current.environmentId) {
    // Its rollout stopped with its worker: the release it was making says so now, rather
    // than "deploying" until the next deploy of the environment.
    await tx.release.updateMany({
      where: { pipelineId: current.pipelineId, environmentId: current.environmentId, status: 'deploying' },
      data: {
        status: 'failed',
        error: `interrupted: worker ${stale.leaseOwner ?? '?'} stopped responding during the rollout`,
        finishedAt: new Date(now),
      },
    })
  }
  const exhausted = triesUsed(stale) >= maxAttempts[stale.kind as RunnableKind]
  const error = `worker ${stale.leaseOwner ?? '?'} stopped responding (lease expired)`
  return finishStage(tx, stale.id, exhausted ? 'fail' : 'release', {
    error: exhausted ? `${error}; gave up after ${stale.attempt} attempts` : error,
  })
}

/**
 * Sends again the jobs of stages queued for long that no job has touched for as long (their
 * job lost with Redis; a job waiting for a build slot or the deploy lease touches its stage
 * each time it looks, see claim.ts markWaiting), at most once per period, and of pipelines
 * whose next step was never taken. A duplicate is harmless (claims are idempotent) but does
 * not pile up.
 */
export async function requeueLost(db: Db, now: number): Promise<{ requeued: number; advanced: number }> {
  const cutoff = new Date(now - requeueAfterMs)
  const lost = await db.stage.findMany({
    where: { status: 'queued', queuedAt: { lt: cutoff }, updatedAt: { lt: cutoff } },
    select: { id: true, attempt: true },
  })
  const idle = await db.pipeline.findMany({
    where: {
      status: { in: ['queued', 'running'] },
      updatedAt: { lt: new Date(now - requeueAfterMs) },
      stages: { none: { status: { in: ['queued', 'running', 'waiting'] } } },
    },
    select: { id: true },
  })
  if (lost.length || idle.length) {
    await db.$transaction(async (tx) => {
      for (const stage of lost) await enqueueStageRun(tx, stage.id, stage.attempt + 1)
      await tx.stage.updateMany({
        where: { id: { in: lost.map((stage) => stage.id) }, status: 'queued' },
        data: { updatedAt: new Date(now) },
      })
      for (const pipeline of idle) await enqueueInTx(tx, 'pipeline.advance', { pipelineId: pipeline.id })
    })
  }
  return { requeued: lost.length, advanced: idle.length }
}
