import { AppError } from '@slipway/core'
import type { Prisma } from '@slipway/db'
import { approvalExpired, approvalSatisfied, decideApproval, type Role } from '@slipway/policy'
import { applyStageEvent } from '../stages/apply.ts'
import { subjectOf, waitsForDeployer } from './protection.ts'
import type { Change } from './transitions.ts'
import { advancePipeline } from './transitions.ts'

export interface ApprovalRequest {
  pipelineId: string
  stageId: string
  user: { id: string; isAdmin: boolean }
  role: Role | undefined
  decision: 'approved' | 'rejected'
  comment: string
}

/**
 * Records an approval or rejection on a waiting approval stage. Enough (unexpired)
 * approvals succeed the stage; one rejection fails it, and with it the pipeline. The
 * approval records the image digest that was approved.
 */
export async function decide(
  tx: Prisma.TransactionClient,
  request: ApprovalRequest,
): Promise<Change & { approvals: number; required: number }> {
  await tx.$queryRaw`SELECT id FROM "Pipeline" WHERE id = ${request.pipelineId}::uuid FOR UPDATE`
  const stage = await tx.stage.findFirst({
    where: { id: request.stageId, pipelineId: request.pipelineId },
    include: { environment: true, pipeline: true, approvals: true },
  })
  if (!stage) throw new AppError('NOT_FOUND', 'stage not found in this pipeline')
  if (stage.kind !== 'approval' || !stage.environment)
    throw new AppError('CONFLICT', 'this stage is not an approval')
  if (stage.status !== 'waiting')
    throw new AppError('CONFLICT', `the approval is ${stage.status}, not waiting`)
  const env = stage.environment
  const live = stage.approvals.filter(
    (a) => a.decision === 'approved' && !approvalExpired(a.createdAt, env.approvalTtlMinutes),
  )
  const verdict = decideApproval(
    { isAdmin: request.user.isAdmin, role: request.role },
    {
      triggeredByUserId: stage.pipeline.actorUserId ?? undefined,
      approverUserId: request.user.id,
      allowSelfApproval: env.allowSelfApproval,
      alreadyApprovedBy: live.map((a) => a.userId),
    },
  )
  if (!verdict.allowed) throw new AppError('FORBIDDEN', verdict.reason)

  // An expired earlier decision by the same person is replaced by this one.
  await tx.approval.deleteMany({ where: { stageId: stage.id, userId: request.user.id } })
  await tx.approval.create({
    data: {
      stageId: stage.id,
      userId: request.user.id,
      decision: request.decision,
      comment: request.comment,
      digest: stage.pipeline.imageDigest,
    },
  })
  const required = Math.max(1, env.requiredApprovals)
  const approvals = live.length + (request.decision === 'approved' ? 1 : 0)
  // At a protected environment, a pipeline its starter could not deploy waits for a deployer too.
  const approvers = [
    ...(await Promise.all(live.map((a) => subjectOf(tx, stage.pipeline.projectId, a.userId)))),
    ...(request.decision === 'approved' ? [{ isAdmin: request.user.isAdmin, role: request.role }] : []),
  ].filter((subject) => subject !== null)
  const satisfied = approvalSatisfied({
    required,
    approvers,
    needsDeployer: await waitsForDeployer(tx, stage.pipeline, env),
  })
  if (request.decision === 'rejected') {
    await applyStageEvent(tx, stage, 'reject', {
      actorUserId: request.user.id,
      error: `rejected: ${request.comment}`,
    })
  } else if (satisfied) {
    await applyStageEvent(tx, stage, 'approve', {
      actorUserId: request.user.id,
      result: { approvedDigest: stage.pipeline.imageDigest, approvals },
    })
  } else {
    return { projectId: stage.pipeline.projectId, events: [], cancelRunning: [], approvals, required }
  }
  const change = await advancePipeline(tx, request.pipelineId)
  change.events.unshift({
    type: 'stage',
    pipelineId: request.pipelineId,
    stageId: stage.id,
    status: request.decision === 'approved' ? 'succeeded' : 'failed',
    attempt: stage.attempt,
  })
  return { ...change, approvals, required }
}
