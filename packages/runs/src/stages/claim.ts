import { AppError } from '@slipway/core'
import type { Prisma, Stage } from '@slipway/db'
import { type Change, lockPipelineRow, syncStatus } from '../pipelines/transitions.ts'
import { applyStageEvent } from './apply.ts'
import { leaseMs, renewDeployLease, takeDeployLease } from './deploy-lease.ts'

export { leaseMs }

import { maxAttempts, type RunnableKind } from './outcome.ts'

export type Claim =
  /** `deployLease`: the fencing token of the environment's deploy lease a deploy took. */
  | { kind: 'run'; stage: Stage; deployLease?: string; change: Change }
  | { kind: 'skip'; reason: string }
  | { kind: 'wait'; untilMs: number; reason: string }
  | { kind: 'exhausted'; stage: Stage; reason: string }

type Tx = Prisma.TransactionClient

/**
 * A build host of the project's agent group that was granted to the project, with a free build
 * slot, least busy first.
 */
async function pickBuildHost(
  tx: Tx,
  project: { id: string; buildAgentGroup: string },
): Promise<string | 'none' | 'not-granted' | 'busy'> {
  const agentGroup = project.buildAgentGroup
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`build-slots:${agentGroup}`}))`
  const hosts = await tx.host.findMany({
    where: { agentGroup },
    orderBy: { name: 'asc' },
    include: { grants: { where: { projectId: project.id }, select: { hostId: true } } },
  })
  if (!hosts.length) return 'none'
  const granted = hosts.filter((host) => host.grants.length > 0)
  if (!granted.length) return 'not-granted'
  const usable = granted.filter((host) => host.status !== 'down')
  const busy = await tx.stage.groupBy({
    by: ['hostName'],
    where: {
      kind: 'build',
      status: 'running',
      hostName: { in: usable.map((h) => h.name) },
      leaseExpiresAt: { gt: new Date() },
    },
    _count: true,
  })
  const load = (name: string) => busy.find((row) => row.hostName === name)?._count ?? 0
  const free = usable
    .filter((host) => load(host.name) < host.maxConcurrentBuilds)
    .sort((a, b) => load(a.name) - load(b.name))
  return free[0]?.name ?? 'busy'
}

/**
 * A queued stage's job is alive and waiting (for a build slot, for the deploy lease): the
 * stage's updatedAt says so, and the reaper sends jobs again only for queued stages that no
 * job has touched for a while (requeueLost), so waiting never piles up duplicate jobs.
 */
async function markWaiting(tx: Tx, stageId: string, now: number): Promise<void> {
  await tx.stage.update({ where: { id: stageId }, data: { updatedAt: new Date(now) } })
}

/**
 * Decides, with the stage row locked, whether this delivery of `stage.run` runs the stage:
 * a queued stage at the expected attempt starts (taking its build slot or deploy lease), a
 * running stage whose lease expired is taken over as a new attempt, anything else is a
 * duplicate or stale delivery and is skipped.
 */
export async function claimStage(
  tx: Tx,
  stageId: string,
  attempt: number,
  workerId: string,
  ms = leaseMs,
): Promise<Claim> {
  // The pipeline first, then the stage: the order every change of a pipeline locks in.
  const found = await tx.stage.findUnique({ where: { id: stageId }, select: { pipelineId: true } })
  if (!found) return { kind: 'skip', reason: 'stage no longer exists' }
  await lockPipelineRow(tx, found.pipelineId)
  const rows = await tx.$queryRaw<
    { id: string }[]
  >`SELECT id FROM "Stage" WHERE id = ${stageId}::uuid FOR UPDATE`
  if (!rows.length) return { kind: 'skip', reason: 'stage no longer exists' }
  let stage = await tx.stage.findUniqueOrThrow({
    where: { id: stageId },
    include: { pipeline: { include: { project: true } } },
  })
  if (stage.kind === 'approval') return { kind: 'skip', reason: 'approval stages are not run by workers' }
  const now = Date.now()

  if (stage.status === 'running') {
    const expired = !stage.leaseExpiresAt || stage.leaseExpiresAt.getTime() <= now
    if (!expired) {
      return stage.attempt === attempt
        ? {
            kind: 'wait',
            untilMs: stage.leaseExpiresAt!.getTime() + 1000,
            reason: 'another worker holds the lease',
          }
        : { kind: 'skip', reason: `attempt ${attempt} is stale (stage runs attempt ${stage.attempt})` }
    }
    // The worker running it stopped renewing its lease: release it and start a new attempt here.
    await applyStageEvent(tx, stage, 'release', {
      error: `worker ${stage.leaseOwner ?? '?'} stopped responding`,
    })
    stage = await tx.stage.findUniqueOrThrow({
      where: { id: stageId },
      include: { pipeline: { include: { project: true } } },
    })
    attempt = stage.attempt + 1
  }

  if (stage.status !== 'queued') return { kind: 'skip', reason: `stage is ${stage.status}` }
  if (attempt !== stage.attempt + 1)
    return { kind: 'skip', reason: `attempt ${attempt} is stale (next is ${stage.attempt + 1})` }
  const kind = stage.kind as RunnableKind
  if (attempt - stage.retryBase > maxAttempts[kind]) {
    return { kind: 'exhausted', stage, reason: `gave up after ${maxAttempts[kind]} attempts` }
  }

  let hostName: string | null = null
  let deployLease: string | undefined
  if (kind === 'build') {
    const { project } = stage.pipeline
    const picked = await pickBuildHost(tx, project)
    if (picked === 'none') {
      throw new AppError(
        'PRECONDITION_FAILED',
        `no Docker host is in the build agent group "${project.buildAgentGroup}"`,
      )
    }
    if (picked === 'not-granted') {
      throw new AppError(
        'PRECONDITION_FAILED',
        `no host of the build agent group "${project.buildAgentGroup}" is granted to this project; an instance administrator grants hosts`,
      )
    }
    if (picked === 'busy') {
      await markWaiting(tx, stageId, now)
      return { kind: 'wait', untilMs: now + 2000, reason: 'every build host is busy' }
    }
    hostName = picked
  } else if (kind === 'push') {
    const build = await tx.stage.findFirst({ where: { pipelineId: stage.pipelineId, kind: 'build' } })
    hostName = build?.hostName ?? null
  } else if (stage.environmentId) {
    const lease = await takeDeployLease(tx, stage.environmentId, stage.id, workerId, new Date(now), ms)
    if ('heldUntil' in lease) {
      await markWaiting(tx, stageId, now)
      return {
        kind: 'wait',
        untilMs: Math.min(lease.heldUntil.getTime(), now + 2000),
        reason: 'another deploy holds the environment',
      }
    }
    deployLease = lease.token
  }

  await applyStageEvent(tx, stage, 'start', {
    attempt,
    leaseOwner: workerId,
    leaseExpiresAt: new Date(now + ms),
    hostName,
    error: null,
  })
  const started = await tx.stage.findUniqueOrThrow({ where: { id: stageId } })
  // The pipeline started when its first stage did (a redeploy's one stage, too), and is
  // running from now on: a newer pipeline of its ref no longer supersedes it, and its
  // watchers and GitLab hear so now, not when the stage ends.
  await tx.pipeline.updateMany({
    where: { id: stage.pipelineId, startedAt: null },
    data: { startedAt: started.startedAt },
  })
  const change: Change = { projectId: stage.pipeline.projectId, events: [], cancelRunning: [] }
  await syncStatus(tx, stage.pipelineId, change)
  return {
    kind: 'run',
    change,
    stage: started,
    ...(deployLease ? { deployLease } : {}),
  }
}

/**
 * Renews the stage lease (and, with its token, the deploy lease): `ours` false when the stage
 * is no longer this worker's, `deployLeaseLost` when the environment's lease went to another.
 */
export async function renewLease(
  tx: Tx,
  stage: Stage,
  workerId: string,
  deployLease?: string,
  ms = leaseMs,
): Promise<{ ours: boolean; cancel: boolean; deployLeaseLost: boolean }> {
  const until = new Date(Date.now() + ms)
  const updated = await tx.stage.updateMany({
    where: { id: stage.id, status: 'running', attempt: stage.attempt, leaseOwner: workerId },
    data: { leaseExpiresAt: until },
  })
  const deployLeaseLost =
    stage.kind === 'deploy' && stage.environmentId && deployLease
      ? !(await renewDeployLease(tx, stage.environmentId, deployLease, ms))
      : false
  const current = await tx.stage.findUnique({ where: { id: stage.id }, select: { cancelRequested: true } })
  return { ours: updated.count === 1, cancel: current?.cancelRequested ?? false, deployLeaseLost }
}
