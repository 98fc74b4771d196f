import { z } from 'zod'

/**
 * Every background job Slipway runs: its queue, payload schema, attempts and time limit.
 * Producers (API, worker) and the worker that consumes them share this catalog; the worker
 * parses each payload when it picks the job up. Payloads never carry secrets.
 */
export const queues = ['pipelines', 'notifications', 'maintenance'] as const
export type QueueName = (typeof queues)[number]

export interface JobSpec<S extends z.ZodType = z.ZodType> {
  queue: QueueName
  payload: S
  /** Tries in all (1 = no retry). Failures marked permanent never retry. */
  attempts: number
  /** Exponential backoff base between tries. */
  backoffMs: number
  /** The job is aborted after this long and counts as failed (retried if tries are left). */
  timeoutMs: number
}

export const jobCatalog = {
  /** Moves a pipeline forward: starts its next stage, or finishes it. Idempotent. */
  'pipeline.advance': {
    queue: 'pipelines',
    payload: z.object({ pipelineId: z.uuid() }).strict(),
    attempts: 10,
    backoffMs: 1000,
    timeoutMs: 60_000,
  },
  /** Reports a pipeline's state to GitLab as a commit status. Never blocks the pipeline. */
  'gitlab.commitStatus': {
    queue: 'notifications',
    payload: z
      .object({
        pipelineId: z.uuid(),
        state: z.enum(['pending', 'running', 'success', 'failed', 'canceled']),
      })
      .strict(),
    attempts: 8,
    backoffMs: 2000,
    timeoutMs: 30_000,
  },
  /** Pings every registered Docker host and records whether it answers. */
  'hosts.probe': {
    queue: 'maintenance',
    payload: z.object({}).strict(),
    attempts: 1,
    backoffMs: 1000,
    timeoutMs: 60_000,
  },
} as const satisfies Record<string, JobSpec>

export type JobName = keyof typeof jobCatalog
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]['payload']>
