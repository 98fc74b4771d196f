import { AppError, errorMessage, isAppError, type Logger } from '@slipway/core'
import { type Db, Prisma, type Project, postgresCode, type Stage } from '@slipway/db'
import { type ApprovalRequest, decide } from './pipelines/approvals.ts'
import { createPipeline, type NewPipeline } from './pipelines/create.ts'
import { keyedSerial } from './pipelines/serial.ts'
import {
  advancePipeline,
  type Change,
  cancelPipeline,
  finishStage,
  retryStage,
} from './pipelines/transitions.ts'
import {
  finishRelease,
  liveRelease,
  type NewRelease,
  type ReleaseOutcome,
  rollbackTarget,
  startRelease,
} from './releases/records.ts'
import { ConcurrentChange } from './stages/apply.ts'
import { type Claim, claimStage, leaseMs, renewLease } from './stages/claim.ts'
import {
  type DeployLeaseTake,
  dropDeployLease,
  fenceDeployLease,
  renewDeployLease,
  takeDeployLease,
} from './stages/deploy-lease.ts'
import { reapGraceMs, reapStage, requeueLost, staleStages } from './stages/reap.ts'

export { DeployLeaseLost, type DeployLeaseTake } from './stages/deploy-lease.ts'

type Tx = Prisma.TransactionClient

export interface RunsDeps {
  db: Db
  /** Publishes a committed change: live events, cancel signals, outbox kick (see `publisher`). */
  publish(change: Change): Promise<void>
  log: Logger
  /** How long this process's stage and deploy leases live without renewal (default 30 s). */
  leaseMs?: number
}

/** Work done in the same transaction as a lifecycle change (an audit row, a webhook delivery). */
export type Also<R> = (tx: Tx, result: R) => Promise<void>

/**
 * The lifecycle methods usable inside `Runs.transaction`, bound to its transaction: their
 * changes are published once it commits.
 */
export interface RunsScope {
  tx: Tx
  createPipeline(input: NewPipeline): Promise<CreatedPipeline>
  cancelPipeline(pipelineId: string, reason: string): Promise<void>
  retryStage(pipelineId: string, stageId: string): Promise<void>
  decide(request: ApprovalRequest): Promise<{ approvals: number; required: number }>
}

export type CreatedPipeline = Awaited<ReturnType<typeof createPipeline>>['pipeline']

/** How often a transaction that lost a race (serialization, deadlock, a row changed meanwhile) runs. */
const maxTries = 6

type ReleaseWithPipeline = NonNullable<Awaited<ReturnType<typeof liveRelease>>>

export interface OperationRequest {
  project: Project
  environment: { id: string; name: string }
  kind: 'rollback' | 'scale' | 'redeploy'
  actorUserId: string
  /** Rollback: the release to go back to (default: the newest superseded one before the live one). */
  releaseNumber?: number
  /** Scale: the new number of replicas. */
  replicas?: number
}

export interface OperationStarted {
  /** null when scaling an environment with nothing live (only the replicas changed). */
  pipeline: CreatedPipeline | null
  /** The release whose image the operation deploys. */
  source: ReleaseWithPipeline | null
  live: ReleaseWithPipeline | null
}

/**
 * True for a transaction that lost a race and may simply run again: PostgreSQL's
 * serialization failure (40001) and deadlock (40P01), Prisma's P2034, a stage changed
 * between read and write (ConcurrentChange), and a clash on a pipeline's number.
 */
export function isRaceLost(error: unknown): boolean {
  if (error instanceof ConcurrentChange) return true
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return false
  if (error.code === 'P2034') return true
  if (error.code === 'P2002') {
    const meta = error.meta as { modelName?: unknown; target?: unknown } | undefined
    return meta?.modelName === 'Pipeline'
  }
  const code = postgresCode(error)
  return code === '40001' || code === '40P01'
}

/**
 * True when Prisma could not start the transaction within its wait for a pooled connection
 * (P2028): every connection was busy, nothing ran, so it may simply run again. Under load (a
 * burst of GitLab deliveries while pipelines run) this answered 503 to a delivery instead.
 */
function isPoolBusy(error: unknown): boolean {
  return (
    error instanceof Prisma.PrismaClientKnownRequestError &&
    error.code === 'P2028' &&
    error.message.includes('Unable to start a transaction in the given time')
  )
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export type Runs = ReturnType<typeof createRuns>

/**
 * The run lifecycle, one object over its dependencies: pipelines (create, advance, cancel,
 * retry, approvals), stages (claim and lease, outcome, reaping) and releases. Every method
 * commits, then publishes what changed; no caller publishes by hand.
 */
export function createRuns({ db, publish, log, leaseMs: lease = leaseMs }: RunsDeps) {
  const serial = keyedSerial()

  async function publishAll(changes: Change[]): Promise<void> {
    await Promise.all(changes.map((change) => publish(change)))
  }

  /**
   * Runs `work` in one transaction; one that lost a race, or could not start because every
   * pooled connection stayed busy, runs again from the start (up to 6 times, waiting a random
   * 10-50 ms, doubling), so callers never see a serialization conflict or a busy pool. With
   * `serialKey`, works of one key wait their turn in this process first (a project's pipeline
   * creations share its numbering lock).
   */
  async function transaction<T>(
    work: (scope: RunsScope) => Promise<T>,
    options: { serialKey?: string } = {},
  ): Promise<T> {
    const run = async () => {
      for (let attempt = 1; ; attempt++) {
        const changes: Change[] = []
        let result: T
        try {
          result = await db.$transaction((tx) => work(scopeOf(tx, changes)))
        } catch (error) {
          if (attempt >= maxTries || !(isRaceLost(error) || isPoolBusy(error))) throw error
          const waitMs = (10 + Math.random() * 40) * 2 ** (attempt - 1)
          log.debug({ err: error, attempt }, 'a lifecycle transaction lost a race; running it again')
          await sleep(waitMs)
          continue
        }
        await publishAll(changes)
        return result
      }
    }
    return options.serialKey ? serial(options.serialKey, run) : run()
  }

  function scopeOf(tx: Tx, changes: Change[]): RunsScope {
    return {
      tx,
      async createPipeline(input) {
        const created = await createPipeline(tx, input)
        // The first, without events, moves the pipeline's outbox job on to BullMQ at once.
        changes.push({ projectId: input.project.id, events: [], cancelRunning: [] }, ...created.changes)
        return created.pipeline
      },
      async cancelPipeline(pipelineId, reason) {
        changes.push(await cancelPipeline(tx, pipelineId, reason))
      },
      async retryStage(pipelineId, stageId) {
        changes.push(await retryStage(tx, pipelineId, stageId))
      },
      async decide(request) {
        const { approvals, required, ...change } = await decide(tx, request)
        changes.push(change)
        return { approvals, required }
      },
    }
  }

  /** A transaction producing one change that is published after the commit. */
  async function commitChange<R>(
    work: (tx: Tx) => Promise<{ change: Change | null; result: R }>,
  ): Promise<R> {
    let committed: Change | null = null
    const result = await transaction(async ({ tx }) => {
      const out = await work(tx)
      committed = out.change
      return out.result
    })
    if (committed) await publish(committed)
    return result
  }

  return {
    transaction,
    /** How long this process's leases live without renewal; heartbeats renew every third of it. */
    leaseMs: lease,

    // ── pipelines ──────────────────────────────────────────────────────────────────────
    /** Creates a pipeline (numbered, superseding older queued ones of its ref when asked). */
    createPipeline(input: NewPipeline, also?: Also<CreatedPipeline>): Promise<CreatedPipeline> {
      return transaction(
        async (scope) => {
          const pipeline = await scope.createPipeline(input)
          await also?.(scope.tx, pipeline)
          return pipeline
        },
        { serialKey: input.project.id },
      )
    },

    /** One orchestrator step (job `pipeline.advance`). */
    advancePipeline(pipelineId: string): Promise<Change> {
      return commitChange(async (tx) => {
        const result = await advancePipeline(tx, pipelineId)
        return { change: result, result }
      })
    },

    /** Cancels a pipeline (CONFLICT when it is already over). */
    cancelPipeline(pipelineId: string, reason: string, also?: Also<void>): Promise<void> {
      return transaction(async (scope) => {
        await scope.cancelPipeline(pipelineId, reason)
        await also?.(scope.tx)
      })
    },

    /** Retries a failed or canceled stage and what follows it. */
    retryStage(pipelineId: string, stageId: string, also?: Also<void>): Promise<void> {
      return transaction(async (scope) => {
        await scope.retryStage(pipelineId, stageId)
        await also?.(scope.tx)
      })
    },

    /** Records an approval or a rejection. */
    decide(
      request: ApprovalRequest,
      also?: Also<{ approvals: number; required: number }>,
    ): Promise<{ approvals: number; required: number }> {
      return transaction(async (scope) => {
        const result = await scope.decide(request)
        await also?.(scope.tx, result)
        return result
      })
    },

    // ── stages ─────────────────────────────────────────────────────────────────────────
    /**
     * Claims a stage for this worker (job `stage.run`). A stage that cannot run here at all
     * (no build host in its group, attempts used up) is failed and reported as `failed`.
     */
    async claimStage(
      stageId: string,
      attempt: number,
      workerId: string,
    ): Promise<Exclude<Claim, { kind: 'exhausted' }> | { kind: 'failed'; reason: string }> {
      let claim: Claim
      try {
        claim = await transaction(({ tx }) => claimStage(tx, stageId, attempt, workerId, lease))
      } catch (error) {
        if (!isAppError(error) || error.code !== 'PRECONDITION_FAILED') throw error
        await this.failStage(stageId, error.message)
        return { kind: 'failed', reason: error.message }
      }
      if (claim.kind === 'exhausted') {
        await this.failStage(stageId, claim.reason)
        return { kind: 'failed', reason: claim.reason }
      }
      if (claim.kind === 'run') {
        const { stage, change } = claim
        await publish({
          ...change,
          events: [
            {
              type: 'stage',
              pipelineId: stage.pipelineId,
              stageId,
              status: 'running',
              attempt: stage.attempt,
            },
            ...change.events,
          ],
        })
      }
      return claim
    },

    /**
     * Renews a running stage's lease (and with `deployLease`, the environment's deploy lease):
     * `ours` false when another attempt took the stage, `deployLeaseLost` when another took the
     * environment.
     */
    renewLease(stage: Stage, workerId: string, deployLease?: string) {
      return transaction(({ tx }) => renewLease(tx, stage, workerId, deployLease, lease))
    },

    /** The stage's work succeeded. */
    async succeedStage(stageId: string, result: Record<string, unknown>): Promise<void> {
      await commitChange(async (tx) => ({
        change: await finishStage(tx, stageId, 'succeed', { result: result as Prisma.InputJsonObject }),
        result: undefined,
      }))
    },

    /** The stage failed for good. */
    async failStage(stageId: string, error: string): Promise<void> {
      await commitChange(async (tx) => ({
        change: await finishStage(tx, stageId, 'fail', { error }),
        result: undefined,
      }))
    },

    /** The stage stopped because it was canceled. */
    async cancelStage(stageId: string): Promise<void> {
      await commitChange(async (tx) => ({
        change: await finishStage(tx, stageId, 'cancel', { error: 'canceled' }),
        result: undefined,
      }))
    },

    /** The stage goes back to the queue as a new attempt (after `delayMs`). */
    async releaseStage(stageId: string, error: string, delayMs = 0): Promise<void> {
      await commitChange(async (tx) => ({
        change: await finishStage(tx, stageId, 'release', { error }, { releaseDelayMs: delayMs }),
        result: undefined,
      }))
    },

    /**
     * The reaper's pass (job `stages.reap`): running stages whose worker stopped renewing
     * their lease are released for another attempt or failed after their last; lost jobs are
     * sent again; expired deploy leases are removed.
     */
    async reapStages(now = Date.now()) {
      let released = 0
      let failed = 0
      for (const stale of await staleStages(db, now)) {
        try {
          const reaped = await commitChange(async (tx) => {
            const result = await reapStage(tx, stale, now)
            return { change: result, result }
          })
          if (!reaped) continue
          if (reaped.events[0]?.type === 'stage' && reaped.events[0].status === 'failed') failed++
          else released++
        } catch (error) {
          // A stage that changed in a way the state machine refuses (it finished meanwhile).
          if (!isAppError(error) || error.code !== 'CONFLICT') throw error
          log.debug({ stageId: stale.id, error: errorMessage(error) }, 'stage changed while reaping')
        }
      }
      const { requeued, advanced } = await requeueLost(db, now)
      // A change without events only moves the jobs just written to the outbox on to BullMQ.
      if (requeued || advanced) await publish({ projectId: '', events: [], cancelRunning: [] })
      const leases = await db.deployLease.deleteMany({
        where: { expiresAt: { lt: new Date(now - reapGraceMs) } },
      })
      return { released, failed, requeued, advanced, leases: leases.count }
    },

    /**
     * Takes an environment's deploy lease for `holder` (atomically; with a new fencing token)
     * unless another live holder has it (then: until when).
     */
    takeDeployLease(environmentId: string, holder: string, owner: string): Promise<DeployLeaseTake> {
      return transaction(({ tx }) => takeDeployLease(tx, environmentId, holder, owner, new Date(), lease))
    },

    /** Extends a deploy lease still held with this token; false when it was lost. */
    renewDeployLease(environmentId: string, token: string): Promise<boolean> {
      return transaction(({ tx }) => renewDeployLease(tx, environmentId, token, lease))
    },

    /** Gives a deploy lease back (only while this token holds it). */
    async dropDeployLease(environmentId: string, token: string): Promise<void> {
      await transaction(({ tx }) => dropDeployLease(tx, environmentId, token))
    },

    /**
     * Runs `work` (writes about an environment) only while the deploy lease is still this
     * token's, in one transaction with the lease row locked: DeployLeaseLost otherwise, and
     * nothing written.
     */
    underDeployLease<T>(environmentId: string, token: string, work: (tx: Tx) => Promise<T>): Promise<T> {
      return transaction(async ({ tx }) => {
        await fenceDeployLease(tx, environmentId, token)
        return work(tx)
      })
    },

    // ── releases ───────────────────────────────────────────────────────────────────────
    /**
     * Starts an operation on an environment: a pipeline with one deploy stage of a kept
     * release's image. Rollback goes to the release asked for (or the newest superseded one),
     * by the release rules; scale stores the replicas first and deploys only when something
     * is live; redeploy needs something live (CONFLICT otherwise).
     */
    startOperation(input: OperationRequest, also?: Also<OperationStarted>): Promise<OperationStarted> {
      const { project, environment, kind } = input
      return transaction(
        async (scope) => {
          const { tx } = scope
          let source: ReleaseWithPipeline | null
          let live: ReleaseWithPipeline | null
          if (kind === 'rollback') {
            ;({ target: source, live } = await rollbackTarget(tx, environment.id, input.releaseNumber))
          } else {
            if (kind === 'scale')
              await tx.environment.update({
                where: { id: environment.id },
                data: { replicas: input.replicas },
              })
            live = await liveRelease(tx, environment.id)
            source = live
            if (!live && kind === 'redeploy')
              throw new AppError('CONFLICT', `nothing is live in ${environment.name} to redeploy`)
          }
          const pipeline = source
            ? await scope.createPipeline({
                project,
                ref: source.pipeline?.ref ?? 'release',
                commitSha: source.pipeline?.commitSha ?? '0'.repeat(40),
                commitTitle: `${kind} to release #${source.number}`,
                trigger: kind,
                actorUserId: input.actorUserId,
                operation: { environmentId: environment.id, imageDigest: source.image },
              })
            : null
          const started = { pipeline, source, live }
          await also?.(tx, started)
          return started
        },
        { serialKey: project.id },
      )
    },

    /** Records a release as deploying (checking the release rules), and says so. */
    async startRelease(input: NewRelease & { projectId: string }) {
      const release = await transaction(({ tx }) => startRelease(tx, input))
      await publish({
        projectId: input.projectId,
        events: [
          {
            type: 'release',
            environmentId: input.environment.id,
            releaseId: release.id,
            status: 'deploying',
          },
        ],
        cancelRunning: [],
      })
      return release
    },

    /** Records how a release's rollout ended, and says so. */
    async finishRelease(
      release: { id: string; environmentId: string; projectId: string },
      outcome: ReleaseOutcome,
      deployLease: string,
    ): Promise<void> {
      await transaction(({ tx }) => finishRelease(tx, release, outcome, deployLease))
      await publish({
        projectId: release.projectId,
        events: [
          {
            type: 'release',
            environmentId: release.environmentId,
            releaseId: release.id,
            status: outcome.succeeded ? 'live' : 'failed',
          },
        ],
        cancelRunning: [],
      })
    },

    /** Says that reconcile changed what runs for a live release (audit row written by the caller). */
    async releaseReconciled(release: {
      id: string
      environmentId: string
      projectId: string
    }): Promise<void> {
      await publish({
        projectId: release.projectId,
        events: [
          { type: 'release', environmentId: release.environmentId, releaseId: release.id, status: 'live' },
        ],
        cancelRunning: [],
      })
    },
  }
}
