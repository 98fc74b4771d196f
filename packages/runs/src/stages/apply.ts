import type { StageStatus } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { Prisma, Stage } from '@slipway/db'
import { type StageEvent, transition } from '@slipway/pipeline'

/**
 * Another transaction changed the row between this one's read and its write: the work is
 * safe to run again from the start (`Runs.transaction` does so). Its message names no id.
 */
export class ConcurrentChange extends AppError {
  constructor(message: string) {
    super('CONFLICT', message)
    this.name = 'ConcurrentChange'
  }
}

/**
 * Applies one state-machine event to a stage, atomically: the update only happens if the
 * stage is still in the status it was read in (a concurrent change makes it a CONFLICT).
 */
export async function applyStageEvent(
  tx: Prisma.TransactionClient,
  stage: Pick<Stage, 'id' | 'kind' | 'status'>,
  event: StageEvent,
  patch: Prisma.StageUncheckedUpdateManyInput = {},
): Promise<StageStatus> {
  const result = transition(stage.kind, stage.status, event)
  if (!result.ok)
    throw new AppError('CONFLICT', result.reason, {
      details: { stageId: stage.id, status: stage.status, event },
    })
  const now = new Date()
  const timing: Prisma.StageUncheckedUpdateManyInput =
    result.to === 'queued'
      ? {
          queuedAt: now,
          startedAt: null,
          finishedAt: null,
          error: null,
          leaseOwner: null,
          leaseExpiresAt: null,
        }
      : result.to === 'running'
        ? { startedAt: now }
        : result.to === 'waiting'
          ? { startedAt: now }
          : ['succeeded', 'failed', 'canceled', 'skipped'].includes(result.to)
            ? { finishedAt: now, leaseOwner: null, leaseExpiresAt: null }
            : {}
  const updated = await tx.stage.updateMany({
    where: { id: stage.id, status: stage.status },
    data: { ...timing, ...patch, status: result.to },
  })
  if (updated.count !== 1)
    throw new ConcurrentChange(`the ${stage.kind} stage changed meanwhile (it was ${stage.status})`)
  return result.to
}
