import {
  isRetryableCode,
  type JobName,
  type JobPayload,
  jobCatalog,
  type QueueName,
} from '@slipway/contracts'
import { AppError, errorMessage, type Logger } from '@slipway/core'
import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq'
import type { Redis } from 'ioredis'

interface JobContext {
  job: Job
  /** The job's lock token (to move it back to the queue: job.moveToDelayed(ts, token)). */
  token: string | undefined
  /** Aborted on the job's time limit and when the worker shuts down. */
  signal: AbortSignal
  log: Logger
}

export type Processor<N extends JobName> = (payload: JobPayload<N>, context: JobContext) => Promise<unknown>
export type Processors = { [N in JobName]?: Processor<N> }

export interface QueueWorkerOptions {
  /** The catalog queue whose jobs this worker runs. */
  queue: QueueName
  /** The BullMQ queue it takes them from, when not the catalog queue's (a build agent group's). */
  bullQueue?: string
  connection: Redis
  prefix: string
  processors: Processors
  concurrency: number
  logger: Logger
  workerId: string
  /** How long a job's lock lives without renewal; a dead worker's job stalls after this. */
  lockDurationMs?: number
}

export interface QueueWorker {
  worker: Worker
  /**
   * Stops taking jobs and lets running ones finish for up to `graceMs`; jobs still running
   * then are aborted and released back to the queue (not failed, no attempt consumed).
   */
  close(graceMs: number): Promise<void>
}

const shutdownReason = 'worker shutting down'

/**
 * Errors that retrying cannot fix, by the error table (@slipway/contracts errorTable): the job
 * fails at once. Anything that is not an AppError (a dropped connection, a bug) keeps the
 * job's catalog attempts.
 */
function isPermanent(error: unknown): boolean {
  return error instanceof AppError && !isRetryableCode(error.code)
}

export function startQueueWorker(options: QueueWorkerOptions): QueueWorker {
  const active = new Map<string, AbortController>()
  let shuttingDown = false

  const worker = new Worker(
    options.bullQueue ?? options.queue,
    async (job, token) => {
      const name = job.name as JobName
      const spec = jobCatalog[name]
      const processor = options.processors[name] as Processor<JobName> | undefined
      const log = options.logger.child({ jobId: job.id, job: job.name, attempt: job.attemptsMade + 1 })
      if (!spec || spec.queue !== options.queue || !processor) {
        throw new UnrecoverableError(`no processor for job ${job.name} on queue ${options.queue}`)
      }
      const parsed = spec.payload.safeParse(job.data)
      if (!parsed.success) {
        throw new UnrecoverableError(`invalid payload for ${job.name}: ${parsed.error.message}`)
      }
      const controller = new AbortController()
      const key = `${job.id}:${token}`
      active.set(key, controller)
      const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(spec.timeoutMs)])
      try {
        return await processor(parsed.data as never, { job, token, signal, log })
      } catch (error) {
        if (controller.signal.aborted && controller.signal.reason === shutdownReason && token) {
          // Released: back to the queue for another worker, without consuming an attempt.
          log.warn('released on shutdown')
          await job.moveToDelayed(Date.now(), token)
          throw new DelayedError()
        }
        if (error instanceof DelayedError) throw error
        if (isPermanent(error)) throw new UnrecoverableError(errorMessage(error))
        throw error
      } finally {
        active.delete(key)
      }
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs ?? 30_000,
      autorun: true,
      name: options.workerId,
    },
  )

  worker.on('error', (error) => options.logger.error({ err: error }, 'worker error'))
  worker.on('failed', (job, error) => {
    if (error instanceof DelayedError) return
    options.logger.warn({ jobId: job?.id, job: job?.name, err: error }, 'job failed')
  })

  return {
    worker,
    async close(graceMs) {
      if (shuttingDown) return
      shuttingDown = true
      const closed = worker.close()
      let timer: NodeJS.Timeout | undefined
      const graceOver = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs)
      })
      const outcome = await Promise.race([closed.then(() => 'closed' as const), graceOver])
      clearTimeout(timer)
      if (outcome === 'timeout') {
        options.logger.warn({ running: active.size }, 'grace period over: releasing running jobs')
        for (const controller of active.values()) controller.abort(shutdownReason)
        await closed
      }
    },
  }
}
