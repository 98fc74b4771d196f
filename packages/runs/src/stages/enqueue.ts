import type { Prisma } from '@slipway/db'
import { enqueueInTx } from '@slipway/jobs'

/**
 * Sends a stage's next attempt to a worker, inside the caller's transaction. A build or push
 * stage goes to its project's build agent group (only workers serving that group take it);
 * a deploy goes to any worker.
 */
export async function enqueueStageRun(
  tx: Prisma.TransactionClient,
  stageId: string,
  attempt: number,
  options: { delayMs?: number } = {},
): Promise<void> {
  const stage = await tx.stage.findUniqueOrThrow({
    where: { id: stageId },
    select: { kind: true, pipeline: { select: { project: { select: { buildAgentGroup: true } } } } },
  })
  const group =
    stage.kind === 'build' || stage.kind === 'push' ? stage.pipeline.project.buildAgentGroup : undefined
  await enqueueInTx(tx, 'stage.run', { stageId, attempt, ...(group ? { group } : {}) }, options)
}
