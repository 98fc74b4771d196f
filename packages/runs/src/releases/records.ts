import { AppError } from '@slipway/core'
import type { Pipeline, Prisma } from '@slipway/db'
import { fenceDeployLease } from '../stages/deploy-lease.ts'
import { deployRefusal, releaseKindOf, rollbackRefusal } from './rules.ts'

type Tx = Prisma.TransactionClient

/** The release live in an environment now (the newest one marked live), with its pipeline. */
export function liveRelease(tx: Tx, environmentId: string) {
  return tx.release.findFirst({
    where: { environmentId, status: 'live' },
    orderBy: { number: 'desc' },
    include: { pipeline: true },
  })
}

/**
 * The release a rollback goes to: the one asked for by number, else the newest superseded
 * one older than what is live; CONFLICT when the rules refuse it (never went live, already live).
 */
export async function rollbackTarget(tx: Tx, environmentId: string, releaseNumber: number | undefined) {
  const live = await liveRelease(tx, environmentId)
  const target = releaseNumber
    ? await tx.release.findUnique({
        where: { environmentId_number: { environmentId, number: releaseNumber } },
        include: { pipeline: true },
      })
    : await tx.release.findFirst({
        where: {
          environmentId,
          status: 'superseded',
          number: { lt: live?.number ?? Number.MAX_SAFE_INTEGER },
        },
        orderBy: { number: 'desc' },
        include: { pipeline: true },
      })
  if (!target) throw new AppError('NOT_FOUND', 'no earlier release to roll back to')
  const refusal = rollbackRefusal(target, live)
  if (refusal) throw new AppError('CONFLICT', refusal)
  return { target, live }
}

export interface NewRelease {
  environment: { id: string; name: string; replicas: number }
  pipeline: Pick<Pipeline, 'id' | 'number' | 'trigger' | 'imageDigest' | 'actorUserId'>
  configVersionId: string | null
  /** The fencing token of the environment's deploy lease this deploy holds. */
  deployLease: string
}

/**
 * Records a release as `deploying`, under the environment's deploy lease (fenced by its
 * token: a deploy that lost the lease records nothing), after checking the release rules against what is live
 * (an older pipeline never replaces a newer release): a refusal is a PRECONDITION for the
 * stage (it fails, not retried).
 */
export async function startRelease(tx: Tx, input: NewRelease) {
  const { environment, pipeline } = input
  await fenceDeployLease(tx, environment.id, input.deployLease, environment.name)
  if (!pipeline.imageDigest)
    throw new AppError('PRECONDITION_FAILED', 'no image digest: the push stage has not run')
  const live = await liveRelease(tx, environment.id)
  const refusal = deployRefusal(
    pipeline,
    live ? { pipelineNumber: live.pipeline?.number ?? null } : null,
    environment.name,
  )
  if (refusal) throw new AppError('PRECONDITION_FAILED', refusal)
  const last = await tx.release.findFirst({
    where: { environmentId: environment.id },
    orderBy: { number: 'desc' },
  })
  return tx.release.create({
    data: {
      environmentId: environment.id,
      number: (last?.number ?? 0) + 1,
      pipelineId: pipeline.id,
      kind: releaseKindOf(pipeline.trigger),
      image: pipeline.imageDigest,
      digest: pipeline.imageDigest.slice(pipeline.imageDigest.indexOf('@') + 1),
      configVersionId: input.configVersionId,
      replicas: environment.replicas,
      status: 'deploying',
      previousReleaseId: live?.id ?? null,
      actorUserId: pipeline.actorUserId,
      startedAt: new Date(),
    },
  })
}

export interface ReleaseOutcome {
  succeeded: boolean
  rolledBack: boolean
  error: string | null
  result: unknown
}

/**
 * Records how a release's rollout ended (fenced by the deploy lease's token: a deploy that
 * lost the lease changes nothing); a live one supersedes the release live before it.
 */
export async function finishRelease(
  tx: Tx,
  release: { id: string; environmentId: string },
  outcome: ReleaseOutcome,
  deployLease: string,
): Promise<'live' | 'failed' | 'rolled_back'> {
  await fenceDeployLease(tx, release.environmentId, deployLease)
  const status = outcome.succeeded ? 'live' : outcome.rolledBack ? 'rolled_back' : 'failed'
  await tx.release.update({
    where: { id: release.id },
    data: {
      status,
      error: outcome.error,
      result: JSON.parse(JSON.stringify(outcome.result)),
      finishedAt: new Date(),
    },
  })
  if (outcome.succeeded) {
    await tx.release.updateMany({
      where: { environmentId: release.environmentId, status: 'live', id: { not: release.id } },
      data: { status: 'superseded' },
    })
  }
  return status
}
