import { errorMessage } from '@slipway/core'
import { enqueueInTx } from '@slipway/jobs'
import { finishStage } from '@slipway/runs'
import type { WorkerDeps } from '../deps.ts'
import type { Processor } from '../runtime.ts'
import { maxAttempts } from './claim.ts'

/** A queued stage older than this without a worker gets its job sent again (harmless if not lost). */
const requeueAfterMs = 2 * 60_000
/** Extra time after a lease expires before the reaper steps in (a slow heartbeat is not death). */
const graceMs = 5_000

/**
 * `stages.reap`, every few seconds: the guarantee that no pipeline stays "running" forever.
 * - a running stage whose worker stopped renewing its lease is released for another attempt,
 *   or failed when it has used its attempts;
 * - a stage queued for long (its job lost with Redis) and a pipeline whose next step was
 *   never taken get their jobs sent again; duplicates are harmless (claims are idempotent);
 * - expired deploy leases are removed.
 */
export function reapStages(deps: WorkerDeps): Processor<'stages.reap'> {
  return async (_payload, { log }) => {
    const now = Date.now()
    let released = 0
    let failed = 0
    const stale = await deps.db.stage.findMany({
      where: {
        status: 'running',
        kind: { not: 'approval' },
        leaseExpiresAt: { lt: new Date(now - graceMs) },
      },
      select: { id: true, kind: true, attempt: true, leaseOwner: true },
    })
    for (const stage of stale) {
      const exhausted = stage.attempt >= maxAttempts[stage.kind as 'build' | 'push' | 'deploy']
      const error = `worker ${stage.leaseOwner ?? '?'} stopped responding (lease expired)`
      try {
        const change = await deps.db.$transaction((tx) =>
          finishStage(tx, stage.id, exhausted ? 'fail' : 'release', {
            error: exhausted ? `${error}; gave up after ${stage.attempt} attempts` : error,
          }),
        )
        await deps.publish(change)
        if (exhausted) failed++
        else released++
      } catch (err) {
        log.debug({ stageId: stage.id, error: errorMessage(err) }, 'stage changed while reaping')
      }
    }

    const lost = await deps.db.stage.findMany({
      where: { status: 'queued', queuedAt: { lt: new Date(now - requeueAfterMs) } },
      select: { id: true, attempt: true },
    })
    const idle = await deps.db.pipeline.findMany({
      where: {
        status: { in: ['queued', 'running'] },
        updatedAt: { lt: new Date(now - requeueAfterMs) },
        stages: { none: { status: { in: ['queued', 'running', 'waiting'] } } },
      },
      select: { id: true },
    })
    if (lost.length || idle.length) {
      await deps.db.$transaction(async (tx) => {
        for (const stage of lost)
          await enqueueInTx(tx, 'stage.run', { stageId: stage.id, attempt: stage.attempt + 1 })
        for (const pipeline of idle) await enqueueInTx(tx, 'pipeline.advance', { pipelineId: pipeline.id })
      })
      await deps.outbox.kick()
    }
    const leases = await deps.db.deployLease.deleteMany({
      where: { expiresAt: { lt: new Date(now - graceMs) } },
    })
    if (released || failed || lost.length || idle.length) {
      log.info({ released, failed, requeued: lost.length, advanced: idle.length }, 'reaped stages')
    }
    return { released, failed, requeued: lost.length, advanced: idle.length, leases: leases.count }
  }
}
