import { z } from 'zod'
import { Slug } from './common.ts'

/**
 * Every background job Slipway runs: its queue, payload schema, attempts and time limit.
 * Producers (API, worker) and the worker that consumes them share this catalog; the worker
 * parses each payload when it picks the job up. Payloads never carry secrets.
 */
export const queues = ['pipelines', 'stages', 'notifications', 'maintenance'] as const
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
  /**
   * Runs one attempt of a build, push or deploy stage. Retries are the runner's decision
   * (a released stage gets a new job for its next attempt), so BullMQ tries once; a worker
   * that dies mid-stage is detected by the stage lease (see stages.reap).
   */
  'stage.run': {
    queue: 'stages',
    /**
     * `group`: the build agent group of a build or push stage; such a job goes to that group's
     * queue (see queueOf), where only workers serving the group take it.
     */
    payload: z
      .object({ stageId: z.uuid(), attempt: z.number().int().min(1), group: Slug.optional() })
      .strict(),
    attempts: 1,
    backoffMs: 1000,
    timeoutMs: 40 * 60_000,
  },
  /** Releases or fails stages whose worker stopped renewing its lease; re-queues lost jobs. */
  'stages.reap': {
    queue: 'maintenance',
    payload: z.object({}).strict(),
    attempts: 1,
    backoffMs: 1000,
    timeoutMs: 60_000,
  },
  /**
   * Self-healing: brings an environment back to its live release and replicas (dead or
   * failing containers replaced, a host that came back refilled). Skipped while a deploy
   * holds the environment.
   */
  'environment.reconcile': {
    queue: 'maintenance',
    payload: z.object({ environmentId: z.uuid() }).strict(),
    attempts: 1,
    backoffMs: 1000,
    timeoutMs: 10 * 60_000,
  },
  /**
   * Records one delivery per matching outgoing webhook (HMAC-signed, each its own
   * `notify.deliver`). Tried again with backoff: a database hiccup must not lose the event.
   */
  'notify.pipeline': {
    queue: 'notifications',
    payload: z
      .object({ pipelineId: z.uuid(), event: z.string().max(100), status: z.string().max(50) })
      .strict(),
    attempts: 5,
    backoffMs: 2000,
    timeoutMs: 30_000,
  },
  /** One delivery of one outgoing webhook, retried with backoff. */
  'notify.deliver': {
    queue: 'notifications',
    payload: z.object({ deliveryId: z.uuid() }).strict(),
    attempts: 8,
    backoffMs: 2000,
    timeoutMs: 30_000,
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

/** The BullMQ queue of a build agent group's stages (builds and pushes). */
export function buildQueueOf(group: string): string {
  return `stages.build.${group}`
}

/**
 * The BullMQ queue a job goes to: its catalog queue, except a stage of a build agent group,
 * which goes to that group's queue (workers take the groups they are started for).
 */
export function queueOf<N extends JobName>(name: N, payload: JobPayload<N>): string {
  if (name === 'stage.run') {
    const { group } = payload as JobPayload<'stage.run'>
    if (group) return buildQueueOf(group)
  }
  return jobCatalog[name].queue
}
