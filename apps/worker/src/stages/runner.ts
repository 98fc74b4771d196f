import { AppError, errorMessage } from '@slipway/core'
import {
  isDatabaseUnreachable,
  type Pipeline,
  type Project,
  type Stage,
  whileDatabaseAway,
} from '@slipway/db'
import {
  cancelChannel,
  classifyFailure,
  DeployLeaseLost,
  maxAttempts,
  type RunnableKind,
  StageLog,
  triesUsed,
} from '@slipway/runs'
import { DelayedError } from 'bullmq'
import type { WorkerDeps } from '../deps.ts'
import type { Processor } from '../runtime.ts'

export interface StageContext {
  deps: WorkerDeps
  stage: Stage
  pipeline: Pipeline
  project: Project
  log: StageLog
  /** Aborted on cancel, on the stage's time limit and when the worker shuts down. */
  signal: AbortSignal
  /** Secret values this stage knows; they are masked in its log. */
  secrets: string[]
  /**
   * Runs a database call again while the database restarts (up to 2 min, saying so in the
   * log), for calls a stage cannot do without and may repeat safely.
   */
  patient: <T>(work: () => Promise<T>) => Promise<T>
  /**
   * A deploy's fencing token of its environment's deploy lease: every write made under the
   * lease passes it (a write after the lease was lost changes nothing).
   */
  deployLease?: string
}

export interface StageResult {
  result?: Record<string, unknown>
}

type StageHandler = (context: StageContext) => Promise<StageResult>

/** Secrets a stage may print by accident; known before the log opens so every line is masked. */
export type SecretsOf = (deps: WorkerDeps, stage: Stage, project: Project) => Promise<string[]>

export interface StageHandlers {
  build: StageHandler
  push: StageHandler
  deploy: StageHandler
  secretsOf: SecretsOf
}

/** The longest a stage may run before it fails (the queue job's own limit is above these). */
const stageLimitsMs = { build: 30 * 60_000, push: 10 * 60_000, deploy: 30 * 60_000 }

/**
 * The `stage.run` processor: claims the stage (lease, build slot, deploy lease), keeps the
 * lease alive with heartbeats, runs the handler for its kind with a log and an AbortSignal
 * that fires on cancel, and records the outcome. Delivered twice, it runs once.
 */
export function runStage(deps: WorkerDeps, handlers: StageHandlers): Processor<'stage.run'> {
  return async ({ stageId, attempt }, { job, token, signal: jobSignal, log: jobLog }) => {
    const claim = await deps.runs.claimStage(stageId, attempt, deps.workerId)
    if (claim.kind === 'skip') return { outcome: 'skipped', reason: claim.reason }
    if (claim.kind === 'failed') return { outcome: 'failed', reason: claim.reason }
    if (claim.kind === 'wait') {
      if (!token) throw new Error('cannot delay a job without its token')
      await job.moveToDelayed(claim.untilMs, token)
      throw new DelayedError(claim.reason)
    }

    const stage = claim.stage
    const deployLease = claim.deployLease
    // The stage is ours (its lease outlives a database restart): what it needs before it
    // starts waits for the database rather than failing it. The secrets are read before the
    // log opens, so every line is masked; without them the stage does not run.
    const away = (what: string) => (error: unknown, waitMs: number) =>
      jobLog.warn({ err: error, stageId }, `the database does not answer; ${what} again in ${waitMs} ms`)
    const pipeline = await whileDatabaseAway(
      () =>
        deps.db.pipeline.findUniqueOrThrow({ where: { id: stage.pipelineId }, include: { project: true } }),
      { onWait: away('loading the pipeline') },
    )
    const project = pipeline.project
    const log = jobLog.child({ stageId, pipelineId: pipeline.id, kind: stage.kind, attempt: stage.attempt })

    const cancel = new AbortController()
    const kind = stage.kind as RunnableKind
    const limit = AbortSignal.timeout(stageLimitsMs[kind])
    const signal = AbortSignal.any([cancel.signal, jobSignal, limit])
    let secrets: string[] | Error
    try {
      secrets = await whileDatabaseAway(() => handlers.secretsOf(deps, stage, project), {
        onWait: away('reading the secrets to mask'),
      })
    } catch (error) {
      if (isDatabaseUnreachable(error)) throw error
      secrets = new Error(`the secrets to mask in the log cannot be read: ${errorMessage(error)}`)
    }
    const stageLog = await whileDatabaseAway(
      () =>
        StageLog.open({
          db: deps.db,
          redis: deps.redis,
          prefix: deps.prefix,
          stageId,
          logger: log,
          secrets: secrets instanceof Error ? [] : secrets,
          limits: deps.logLimits,
        }),
      { onWait: away('opening the log') },
    )

    // A long outage while preparing may have outlived the lease (the reaper then hands the
    // stage to another attempt): nothing runs unless the stage is still ours.
    const renewed = await whileDatabaseAway(() => deps.runs.renewLease(stage, deps.workerId, deployLease), {
      onWait: away('renewing the lease'),
    })
    if (!renewed.ours) {
      await stageLog.close()
      return { outcome: 'lost' }
    }
    let deployLeaseLost = renewed.deployLeaseLost

    // Cancel requests arrive on a Redis channel; the heartbeat also reads the flag (no message is lost).
    const subscriber = deps.redis.duplicate()
    // A dropped connection reconnects by itself, and the heartbeat reads the cancel flag too.
    subscriber.on('error', (error) => log.debug({ err: error }, 'cancel subscriber error'))
    await subscriber.subscribe(cancelChannel(deps.prefix))
    subscriber.on('message', (_channel, id) => {
      if (id === stageId) cancel.abort('canceled')
    })
    let lost = false
    const heartbeat = setInterval(() => {
      deps.runs
        .renewLease(stage, deps.workerId, deployLease)
        .then(({ ours, cancel: requested, deployLeaseLost: leaseGone }) => {
          if (!ours) {
            lost = true
            cancel.abort('lease lost')
          } else if (leaseGone) {
            deployLeaseLost = true
            cancel.abort('deploy lease lost')
          } else if (requested) cancel.abort('canceled')
        })
        .catch((error) => log.warn({ err: error }, 'lease renewal failed'))
    }, deps.runs.leaseMs / 3)

    // The work is done once; recording its outcome waits out a database restart (the heartbeat
    // keeps the lease meanwhile) instead of leaving the stage to the reaper.
    const record = (work: () => Promise<void>) =>
      whileDatabaseAway(work, {
        onWait: (error, waitMs) =>
          log.warn(
            { err: error },
            `the database does not answer; recording the outcome again in ${waitMs} ms`,
          ),
      })
    const patient = <T>(work: () => Promise<T>) =>
      whileDatabaseAway(work, {
        onWait: (_error, waitMs) =>
          stageLog.write(`… the database does not answer; trying again in ${(waitMs / 1000).toFixed(1)} s`),
      })
    stageLog.write(`▶ ${stage.kind} · attempt ${stage.attempt} · worker ${deps.workerId}`)
    const started = Date.now()
    try {
      if (secrets instanceof Error) throw permanent(secrets.message)
      if (deployLeaseLost) throw new DeployLeaseLost()
      const handler = handlers[stage.kind as 'build' | 'push' | 'deploy']
      const outcome = await handler({
        deps,
        stage,
        pipeline,
        project,
        log: stageLog,
        signal,
        secrets,
        patient,
        ...(deployLease ? { deployLease } : {}),
      })
      stageLog.write(`✔ ${stage.kind} succeeded in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      await stageLog.close()
      await record(() => deps.runs.succeedStage(stageId, outcome.result ?? {}))
      return { outcome: 'succeeded' }
    } catch (error) {
      // Stored on the stage and in the job's result: masked like the log (a tool may echo a secret).
      const message = stageLog.mask(errorMessage(error))
      if (lost) {
        stageLog.write(`■ this worker lost the stage's lease; another attempt takes over`)
        await stageLog.close()
        return { outcome: 'lost' }
      }
      if (deployLeaseLost || error instanceof DeployLeaseLost) {
        // Another deploy or a reconcile holds the environment now: this one stops, writes
        // nothing more under the lease (its writes are fenced), and goes back to the queue
        // (its next attempt waits for the lease) or fails after its last attempt.
        const reason = error instanceof DeployLeaseLost ? error.message : new DeployLeaseLost().message
        const retry = triesUsed(stage) < maxAttempts[kind]
        stageLog.write(
          `■ ${reason}${retry ? ` (will retry: attempt ${triesUsed(stage) + 1} of ${maxAttempts[kind]})` : ''}`,
        )
        await stageLog.close()
        await record(() =>
          retry ? deps.runs.releaseStage(stageId, reason, 2000) : deps.runs.failStage(stageId, reason),
        )
        return { outcome: retry ? 'retrying' : 'failed', error: reason }
      }
      if (cancel.signal.aborted && cancel.signal.reason === 'canceled') {
        stageLog.write('■ canceled')
        await stageLog.close()
        await record(() => deps.runs.cancelStage(stageId))
        return { outcome: 'canceled' }
      }
      if (limit.aborted) {
        const reason = `${kind} ran longer than its limit of ${stageLimitsMs[kind] / 60_000} min`
        stageLog.write(`✖ ${reason}`)
        await stageLog.close()
        await record(() => deps.runs.failStage(stageId, reason))
        return { outcome: 'failed', error: reason }
      }
      if (jobSignal.aborted) {
        // The worker is shutting down: the stage goes back to the queue as a new attempt,
        // which another worker picks up.
        stageLog.write('■ worker shutting down; the stage continues on another worker')
        await stageLog.close()
        await record(() => deps.runs.releaseStage(stageId, 'worker shut down'))
        return { outcome: 'released' }
      }
      const next = classifyFailure(kind, triesUsed(stage), error)
      stageLog.write(
        `✖ ${message}${next.kind === 'retry' ? ` (will retry: attempt ${next.attempt} of ${next.of})` : ''}`,
      )
      await stageLog.close()
      await record(() =>
        next.kind === 'retry'
          ? deps.runs.releaseStage(stageId, message, next.delayMs)
          : deps.runs.failStage(stageId, message),
      )
      const retry = next.kind === 'retry'
      return { outcome: retry ? 'retrying' : 'failed', error: message }
    } finally {
      clearInterval(heartbeat)
      subscriber.disconnect()
      if (stage.environmentId && deployLease) {
        // Given back only while still ours; if this fails, it expires by itself in 30 s.
        await deps.runs
          .dropDeployLease(stage.environmentId, deployLease)
          .catch((error) => log.warn({ err: error }, 'could not give the deploy lease back'))
      }
    }
  }
}

/** Used by handlers for "this cannot work" conditions found while running. */
export function permanent(message: string): AppError {
  return new AppError('PRECONDITION_FAILED', message)
}
