import type { PipelineTrigger } from '@slipway/contracts'
import type { Prisma } from '@slipway/db'
import { type Decision, decideRetry, pipelineNeedsDeployer, type Subject } from '@slipway/policy'

type Tx = Prisma.TransactionClient

/** A user as @slipway/policy sees them on a project (null: no person, e.g. GitLab). */
export async function subjectOf(tx: Tx, projectId: string, userId: string | null): Promise<Subject | null> {
  if (!userId) return null
  const user = await tx.user.findUnique({
    where: { id: userId },
    select: { isAdmin: true, memberships: { where: { projectId }, select: { role: true } } },
  })
  if (!user) return { isAdmin: false }
  return { isAdmin: user.isAdmin, role: user.memberships[0]?.role }
}

/** The deploy cause of a pipeline that plans its own stages (operations are checked by the API). */
function causeOf(trigger: PipelineTrigger): 'pipeline' | 'rerun' | 'gitlab' {
  if (trigger === 'gitlab-push' || trigger === 'gitlab-tag') return 'gitlab'
  return trigger === 'rerun' ? 'rerun' : 'pipeline'
}

/**
 * Does this pipeline wait for an approval by someone allowed to deploy to the environment?
 * Only at a protected environment that requires no approvals (where approvals are required,
 * they are the gate); its starter (as they are now) decides; GitLab is no person, so always.
 */
export async function waitsForDeployer(
  tx: Tx,
  pipeline: { projectId: string; actorUserId: string | null; trigger: string },
  environment: { protected: boolean; requiredApprovals: number },
): Promise<boolean> {
  if (!environment.protected || environment.requiredApprovals > 0) return false
  const starter = await subjectOf(tx, pipeline.projectId, pipeline.actorUserId)
  return pipelineNeedsDeployer(starter, causeOf(pipeline.trigger as PipelineTrigger), environment)
}

/**
 * May `subject` retry what a retry just set going again in this pipeline? Run inside the
 * retry's transaction, after it: each deploy to a protected environment now pending needs the
 * person retrying to be allowed to deploy there, unless it still waits for an approval there.
 */
export async function retryDecision(tx: Tx, pipelineId: string, subject: Subject): Promise<Decision> {
  const pipeline = await tx.pipeline.findUniqueOrThrow({
    where: { id: pipelineId },
    select: {
      projectId: true,
      actorUserId: true,
      trigger: true,
      stages: {
        select: {
          kind: true,
          status: true,
          environment: { select: { id: true, name: true, protected: true } },
        },
      },
    },
  })
  const deploys = []
  for (const stage of pipeline.stages) {
    if (stage.kind !== 'deploy' || stage.status !== 'pending' || !stage.environment) continue
    const env = stage.environment
    const gate = pipeline.stages.some(
      (s) => s.kind === 'approval' && s.environment?.id === env.id && s.status === 'pending',
    )
    deploys.push({
      environment: env.name,
      environmentProtected: env.protected,
      awaitsApproval: gate,
    })
  }
  return decideRetry(subject, deploys)
}
