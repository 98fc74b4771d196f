import type { PipelineTrigger } from '@slipway/contracts'
import type { Prisma, Project } from '@slipway/db'
import { enqueueInTx } from '@slipway/jobs'
import { planStages } from '@slipway/pipeline'

export interface NewPipeline {
  project: Project
  ref: string
  commitSha: string
  commitTitle?: string | null
  trigger: PipelineTrigger
  actorUserId?: string | null
}

/**
 * Creates a pipeline with its stages and, in the same transaction, the outbox job that
 * starts it: a crash after the commit cannot lose the pipeline's first step, and a crash
 * before it leaves nothing behind.
 */
export async function createPipeline(tx: Prisma.TransactionClient, input: NewPipeline) {
  // Numbers are per project and dense: one creation at a time per project.
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${input.project.id}))`
  const last = await tx.pipeline.findFirst({
    where: { projectId: input.project.id },
    orderBy: { number: 'desc' },
    select: { number: true },
  })
  const environments = await tx.environment.findMany({
    where: { projectId: input.project.id },
    select: { id: true, name: true, position: true, requiredApprovals: true },
  })
  const pipeline = await tx.pipeline.create({
    data: {
      projectId: input.project.id,
      number: (last?.number ?? 0) + 1,
      ref: input.ref,
      commitSha: input.commitSha,
      commitTitle: input.commitTitle ?? null,
      trigger: input.trigger,
      actorUserId: input.actorUserId ?? null,
      stages: { create: planStages(environments) },
    },
    include: { stages: { orderBy: { position: 'asc' } } },
  })
  await enqueueInTx(tx, 'pipeline.advance', { pipelineId: pipeline.id })
  if (input.project.gitlabBaseUrl && input.project.gitlabTokenEnc) {
    await enqueueInTx(tx, 'gitlab.commitStatus', { pipelineId: pipeline.id, state: 'pending' })
  }
  return pipeline
}
