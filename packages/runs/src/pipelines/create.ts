import type { PipelineTrigger } from '@slipway/contracts'
import type { Prisma, Project } from '@slipway/db'
import { enqueueInTx } from '@slipway/jobs'
import { planStages } from '@slipway/pipeline'
import { waitsForDeployer } from './protection.ts'
import { type Change, cancelPipeline } from './transitions.ts'

export interface NewPipeline {
  project: Project
  /** Operations (rollback, scale, redeploy) run one deploy stage with a known image. */
  operation?: { environmentId: string; imageDigest: string }
  ref: string
  commitSha: string
  commitTitle?: string | null
  trigger: PipelineTrigger
  actorUserId?: string | null
}

/**
 * Creates a pipeline with its stages (and supersedes older queued pipelines of the same ref
 * when the project says so; their changes are returned for publishing) and, in the same
 * transaction, the outbox job that starts it: a crash after the commit cannot lose the
 * pipeline's first step, and a crash before it leaves nothing behind.
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
    select: { id: true, name: true, position: true, requiredApprovals: true, protected: true },
  })
  // A protected environment waits for a deployer's approval unless the starter may deploy there.
  const starter = {
    projectId: input.project.id,
    actorUserId: input.actorUserId ?? null,
    trigger: input.trigger,
  }
  const stages = input.operation
    ? [{ position: 0, kind: 'deploy' as const, environmentId: input.operation.environmentId }]
    : planStages(
        await Promise.all(
          environments.map(async (env) => ({
            ...env,
            needsDeployer: await waitsForDeployer(tx, starter, env),
          })),
        ),
      )
  const pipeline = await tx.pipeline.create({
    data: {
      projectId: input.project.id,
      number: (last?.number ?? 0) + 1,
      ref: input.ref,
      commitSha: input.commitSha,
      commitTitle: input.commitTitle ?? null,
      trigger: input.trigger,
      actorUserId: input.actorUserId ?? null,
      imageDigest: input.operation?.imageDigest ?? null,
      stages: { create: stages },
    },
    include: { stages: { orderBy: { position: 'asc' } } },
  })
  await enqueueInTx(tx, 'pipeline.advance', { pipelineId: pipeline.id })
  const changes: Change[] = []
  if (input.project.supersedeQueued && !input.operation) {
    // Older pipelines of the same ref that have not started yet will never be worth running.
    const older = await tx.pipeline.findMany({
      where: {
        projectId: input.project.id,
        ref: input.ref,
        status: 'queued',
        number: { lt: pipeline.number },
      },
      select: { id: true },
    })
    for (const { id } of older) {
      // One that started or finished meanwhile (a worker's commit between the read and the
      // lock) is left be.
      const change = await cancelPipeline(tx, id, `superseded by #${pipeline.number}`, {
        ifActive: true,
        ifQueued: true,
      })
      if (change) changes.push(change)
    }
  }
  if (input.project.gitlabBaseUrl && input.project.gitlabTokenEnc) {
    await enqueueInTx(tx, 'gitlab.commitStatus', { pipelineId: pipeline.id, state: 'pending' })
  }
  return { pipeline, changes }
}
