import type { Logger } from '@slipway/core'
import type { OutboxDispatcher } from '@slipway/jobs'
import type { Redis } from 'ioredis'
import { publishEvents } from './events.ts'
import type { Change } from './pipelines/transitions.ts'

/** Running stages listen here for their own id: a message means "stop, you are canceled". */
export const cancelChannel = (prefix: string) => `${prefix}:stage-cancel`

/**
 * After a change committed: tell the browsers (project event stream), tell running stages
 * to stop when they were canceled, and move the change's outbox jobs to BullMQ now. Redis
 * failing here loses nothing: the database is the truth (browsers refresh, heartbeats read
 * the cancel flag, every worker polls the outbox); the failure is logged.
 */
export function publisher(redis: Redis, prefix: string, outbox: OutboxDispatcher, log: Logger) {
  const logged = (what: string) => (error: unknown) => log.warn({ err: error }, `could not publish ${what}`)
  return async (change: Change): Promise<void> => {
    await Promise.all([
      publishEvents(redis, prefix, change.projectId, change.events).catch(logged('run events')),
      ...change.cancelRunning.map((stageId) =>
        redis.publish(cancelChannel(prefix), stageId).catch(logged(`the cancel of stage ${stageId}`)),
      ),
      outbox.kick(),
    ])
  }
}
