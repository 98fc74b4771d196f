import type { PipelineStatus, RunEvent } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { Prisma } from '@slipway/db'
import { enqueueInTx } from '@slipway/jobs'
import { nextStep, pipelineStatusOf } from '@slipway/pipeline'
import { applyStageEvent } from '../stages/apply.ts'
import { enqueueStageRun } from '../stages/enqueue.ts'

type Tx = Prisma.TransactionClient

/** The result of a change: events to publish after the commit, and the project they belong to. */
export interface Change {
  projectId: string
  events: RunEvent[]
  /** Stage ids whose running work must be told to stop (published after the commit). */
  cancelRunning: string[]
}

const commitState: Record<PipelineStatus, 'pending' | 'running' | 'success' | 'failed' | 'canceled'> = {
  queued: 'pending',
  running: 'running',
  waiting: 'running',
  succeeded: 'success',
  failed: 'failed',
  canceled: 'canceled',
}

/** Locks the pipeline's row (the first lock any change of a pipeline or its stages takes). */
export async function lockPipelineRow(tx: Tx, pipelineId: string): Promise<void> {
  const rows = await tx.$queryRaw<
    { id: string }[]
  >`SELECT id FROM "Pipeline" WHERE id = ${pipelineId}::uuid FOR UPDATE`
  if (!rows.length) throw new AppError('NOT_FOUND', 'pipeline not found')
}

async function lockPipeline(tx: Tx, pipelineId: string) {
  await lockPipelineRow(tx, pipelineId)
  return tx.pipeline.findUniqueOrThrow({
    where: { id: pipelineId },
    include: { stages: { orderBy: { position: 'asc' } }, project: true },
  })
}

/**
 * Stores the status that follows from the stages, and what follows from a change of it:
 * timestamps, the GitLab commit status and outgoing webhook notifications (through the
 * outbox, in the same transaction).
 */
export async function syncStatus(tx: Tx, pipelineId: string, change: Change): Promise<PipelineStatus> {
  const pipeline = await tx.pipeline.findUniqueOrThrow({
    where: { id: pipelineId },
    include: {
      stages: { select: { status: true } },
      project: { select: { gitlabBaseUrl: true, gitlabTokenEnc: true } },
    },
  })
  const status = pipelineStatusOf(pipeline.stages)
  if (status === pipeline.status) return status
  const terminal = status === 'succeeded' || status === 'failed' || status === 'canceled'
  await tx.pipeline.update({
    where: { id: pipelineId },
    data: {
      status,
      startedAt: pipeline.startedAt ?? (status === 'queued' ? null : new Date()),
      finishedAt: terminal ? new Date() : null,
    },
  })
  change.events.push({ type: 'pipeline', pipelineId, status, number: pipeline.number })
  if (
    pipeline.project.gitlabBaseUrl &&
    pipeline.project.gitlabTokenEnc &&
    commitState[status] !== commitState[pipeline.status]
  ) {
    await enqueueInTx(tx, 'gitlab.commitStatus', { pipelineId, state: commitState[status] })
  }
  await enqueueInTx(tx, 'notify.pipeline', { pipelineId, event: `pipeline.${status}`, status })
  return status
}

/**
 * The orchestrator's step (job `pipeline.advance`): with the pipeline locked, start its next
 * stage, let an approval wait, or finish it. Running it twice changes nothing the second time.
 */
export async function advancePipeline(tx: Tx, pipelineId: string): Promise<Change> {
  const pipeline = await lockPipeline(tx, pipelineId)
  const change: Change = { projectId: pipeline.projectId, events: [], cancelRunning: [] }
  if (pipeline.status === 'succeeded' || pipeline.status === 'failed' || pipeline.status === 'canceled') {
    if (pipeline.stages.every((stage) => stage.status !== 'pending')) return change
  }
  const step = nextStep(pipeline.stages)
  switch (step.kind) {
    case 'none':
      break
    case 'enqueue': {
      const stage = pipeline.stages[step.stageIndex]!
      await applyStageEvent(tx, stage, 'enqueue')
      await enqueueStageRun(tx, stage.id, stage.attempt + 1)
      change.events.push({
        type: 'stage',
        pipelineId,
        stageId: stage.id,
        status: 'queued',
        attempt: stage.attempt,
      })
      break
    }
    case 'await': {
      const stage = pipeline.stages[step.stageIndex]!
      await applyStageEvent(tx, stage, 'await')
      change.events.push({
        type: 'stage',
        pipelineId,
        stageId: stage.id,
        status: 'waiting',
        attempt: stage.attempt,
      })
      break
    }
    case 'finish': {
      for (const index of step.skip) {
        const stage = pipeline.stages[index]!
        await applyStageEvent(tx, stage, 'skip')
        change.events.push({
          type: 'stage',
          pipelineId,
          stageId: stage.id,
          status: 'skipped',
          attempt: stage.attempt,
        })
      }
      if (step.status === 'failed' || step.status === 'canceled') {
        const failed = pipeline.stages.find((stage) => stage.status === step.status)
        await tx.pipeline.update({ where: { id: pipelineId }, data: { error: failed?.error ?? null } })
      }
      break
    }
    default: {
      const unknown: never = step
      throw new Error(`unknown step ${JSON.stringify(unknown)}`)
    }
  }
  await syncStatus(tx, pipelineId, change)
  return change
}

/** Records a stage's end or release and queues the pipeline's next step. */
export async function finishStage(
  tx: Tx,
  stageId: string,
  event: 'succeed' | 'fail' | 'release' | 'cancel',
  patch: Prisma.StageUncheckedUpdateManyInput = {},
  options: { releaseDelayMs?: number } = {},
): Promise<Change> {
  // Locks in one order everywhere (the pipeline, then its stages), so a cancel or a new
  // pipeline superseding this one never deadlocks with a stage's end.
  const { pipelineId } = await tx.stage.findUniqueOrThrow({
    where: { id: stageId },
    select: { pipelineId: true },
  })
  await lockPipelineRow(tx, pipelineId)
  const stage = await tx.stage.findUniqueOrThrow({
    where: { id: stageId },
    include: { pipeline: { select: { projectId: true } } },
  })
  const status = await applyStageEvent(tx, stage, event, patch)
  const change: Change = {
    projectId: stage.pipeline.projectId,
    events: [
      {
        type: 'stage',
        pipelineId: stage.pipelineId,
        stageId,
        status,
        attempt: stage.attempt,
        error: (patch.error as string) ?? null,
      },
    ],
    cancelRunning: [],
  }
  if (event === 'release') {
    await enqueueStageRun(tx, stageId, stage.attempt + 1, { delayMs: options.releaseDelayMs ?? 0 })
  } else {
    await enqueueInTx(tx, 'pipeline.advance', { pipelineId: stage.pipelineId })
  }
  await syncStatus(tx, stage.pipelineId, change)
  return change
}

/**
 * Cancels a pipeline: stages not started are canceled at once, running ones are flagged and
 * told to stop (their runner finishes them as canceled).
 */
export async function cancelPipeline(
  tx: Tx,
  pipelineId: string,
  reason: string,
  options?: { ifActive?: false },
): Promise<Change>
/**
 * With `ifActive`, a pipeline that is already over is left as it is (null); with `ifQueued`
 * too, one that started meanwhile (superseding cancels only pipelines that have not).
 */
export async function cancelPipeline(
  tx: Tx,
  pipelineId: string,
  reason: string,
  options: { ifActive: true; ifQueued?: boolean },
): Promise<Change | null>
export async function cancelPipeline(
  tx: Tx,
  pipelineId: string,
  reason: string,
  options: { ifActive?: boolean; ifQueued?: boolean } = {},
): Promise<Change | null> {
  const pipeline = await lockPipeline(tx, pipelineId)
  const change: Change = { projectId: pipeline.projectId, events: [], cancelRunning: [] }
  if (options.ifQueued && pipeline.status !== 'queued') return null
  if (pipeline.status === 'succeeded' || pipeline.status === 'failed' || pipeline.status === 'canceled') {
    if (options.ifActive) return null
    throw new AppError('CONFLICT', `pipeline #${pipeline.number} already ${pipeline.status}`)
  }
  for (const stage of pipeline.stages) {
    if (stage.status === 'running') {
      await tx.stage.update({ where: { id: stage.id }, data: { cancelRequested: true } })
      change.cancelRunning.push(stage.id)
    } else if (stage.status === 'pending' || stage.status === 'queued' || stage.status === 'waiting') {
      await applyStageEvent(tx, stage, 'cancel', { error: reason })
      change.events.push({
        type: 'stage',
        pipelineId,
        stageId: stage.id,
        status: 'canceled',
        attempt: stage.attempt,
      })
    }
  }
  await tx.pipeline.update({ where: { id: pipelineId }, data: { error: reason } })
  await syncStatus(tx, pipelineId, change)
  return change
}

/** Retries a failed, canceled or skipped stage and lets everything after it run again. */
export async function retryStage(tx: Tx, pipelineId: string, stageId: string): Promise<Change> {
  const pipeline = await lockPipeline(tx, pipelineId)
  const change: Change = { projectId: pipeline.projectId, events: [], cancelRunning: [] }
  const index = pipeline.stages.findIndex((stage) => stage.id === stageId)
  const stage = pipeline.stages[index]
  if (!stage) throw new AppError('NOT_FOUND', 'stage not found in this pipeline')
  if (pipeline.stages.some((s) => s.status === 'running' || s.status === 'queued')) {
    throw new AppError('CONFLICT', 'the pipeline still has a stage queued or running')
  }
  if (stage.status !== 'failed' && stage.status !== 'canceled') {
    throw new AppError(
      'CONFLICT',
      `only a failed or canceled stage can be retried; this one is ${stage.status}`,
    )
  }
  for (const later of pipeline.stages.slice(index)) {
    if (later.status === 'failed' || later.status === 'canceled' || later.status === 'skipped') {
      // Its tries count again from here: a stage that used them all runs again.
      await applyStageEvent(tx, later, 'retry', {
        cancelRequested: false,
        error: null,
        retryBase: later.attempt,
      })
      change.events.push({
        type: 'stage',
        pipelineId,
        stageId: later.id,
        status: 'pending',
        attempt: later.attempt,
      })
    }
  }
  await tx.pipeline.update({ where: { id: pipelineId }, data: { error: null } })
  await enqueueInTx(tx, 'pipeline.advance', { pipelineId })
  await syncStatus(tx, pipelineId, change)
  return change
}
