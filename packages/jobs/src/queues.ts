import { type JobName, type JobPayload, jobCatalog, type QueueName, queueOf } from '@slipway/contracts'
import type { Logger } from '@slipway/core'
import { type JobsOptions, Queue } from 'bullmq'
import type { Redis } from 'ioredis'

/**
 * BullMQ queues by name (a catalog queue, or a build agent group's: see queueOf), created on
 * first use, sharing one connection.
 */
export class Queues {
  private readonly queues = new Map<string, Queue>()

  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  get(name: QueueName | (string & {})): Queue {
    let queue = this.queues.get(name)
    if (!queue) {
      queue = new Queue(name, { connection: this.connection, prefix: this.prefix })
      // A queue repeats its connection's errors; the connection's owner (main.ts) logs those
      // as warnings, so here they are kept at debug.
      queue.on('error', (error) => this.logger.debug({ err: error, queue: name }, 'queue error'))
      this.queues.set(name, queue)
    }
    return queue
  }

  /** Adds a job with its catalog options (attempts, backoff); failed jobs are kept. */
  async add<N extends JobName>(name: N, payload: JobPayload<N>, options: JobsOptions = {}): Promise<string> {
    const spec = jobCatalog[name]
    const job = await this.get(queueOf(name, payload)).add(name, payload, {
      attempts: spec.attempts,
      backoff: { type: 'exponential', delay: spec.backoffMs },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
      ...options,
    })
    return job.id ?? ''
  }

  /**
   * Repeats a job every `everyMs` on its catalog queue, one scheduler per job name (calling
   * again updates it); the payload is typed by the catalog like `add`'s.
   */
  async every<N extends JobName>(name: N, everyMs: number, payload: JobPayload<N>): Promise<void> {
    await this.get(jobCatalog[name].queue).upsertJobScheduler(
      name,
      { every: everyMs },
      { name, data: payload, opts: { removeOnComplete: 100, removeOnFail: 1000 } },
    )
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()))
  }
}
