import type { Stage } from '@slipway/db'
import type { StageContext } from './runner.ts'

/** What the pipeline recorded about the image a deploy stage is about to roll out. */
export interface DigestRecord {
  /** registry/repo@sha256:... the deploy would roll out (the pipeline's image). */
  deploying: string
  /** The image the push stage recorded; null when the pipeline has no push stage (an operation). */
  pushed: string | null
  /** This environment's approvals before the deploy: the digest each decision approved. */
  approvals: { approvedDigest: string | null; approvers: (string | null)[] }[]
}

/**
 * Why a deploy must not roll out `deploying`: the push stage recorded another image, or the
 * approval of this environment (or one approver's decision) was given for another image,
 * e.g. the image was pushed again after the approval. Undefined: it may deploy.
 */
export function digestRefusal(record: DigestRecord): string | undefined {
  const { deploying, pushed, approvals } = record
  if (pushed !== null && pushed !== deploying)
    return `refusing to deploy ${deploying}: the push stage recorded ${pushed}`
  for (const approval of approvals) {
    if (approval.approvedDigest !== deploying)
      return `refusing to deploy ${deploying}: the approval was given for ${approval.approvedDigest ?? 'no image'}; approve this image again in a new pipeline`
    const other = approval.approvers.find((digest) => digest !== deploying)
    if (other !== undefined)
      return `refusing to deploy ${deploying}: an approver approved ${other ?? 'no image'}; approve this image again in a new pipeline`
  }
  return undefined
}

const resultImage = (stage: Pick<Stage, 'result'>, key: string): string | null => {
  const value = (stage.result as Record<string, unknown> | null)?.[key]
  return typeof value === 'string' ? value : null
}

/** Reads what a deploy stage's pipeline recorded about its image (see digestRefusal). */
export async function digestRecord(
  context: Pick<StageContext, 'deps' | 'stage' | 'pipeline' | 'patient'>,
  deploying: string,
): Promise<DigestRecord> {
  const { deps, stage, pipeline, patient } = context
  const stages = await patient(() =>
    deps.db.stage.findMany({
      where: {
        pipelineId: pipeline.id,
        position: { lt: stage.position },
        OR: [{ kind: 'push' }, { kind: 'approval', environmentId: stage.environmentId, status: 'succeeded' }],
      },
      orderBy: { position: 'asc' },
      include: { approvals: { where: { decision: 'approved' } } },
    }),
  )
  const push = stages.find((row) => row.kind === 'push')
  return {
    deploying,
    pushed: push ? resultImage(push, 'image') : null,
    approvals: stages
      .filter((row) => row.kind === 'approval')
      .map((row) => ({
        approvedDigest: resultImage(row, 'approvedDigest'),
        approvers: row.approvals.map((approval) => approval.digest),
      })),
  }
}
