import type { OutboxDispatcher } from '@slipway/jobs'
import type { Redis } from 'ioredis'
import { publishEvents } from './events.ts'
import type { Change } from './pipelines.ts'

/** Running stages listen here for their own id: a message means "stop, you are canceled". */
export const cancelChannel = (prefix: string) => `${prefix}:stage-cancel`

/**
 * After a change committed: tell the browsers (project event stream), tell running stages
 * to stop when they were canceled, and move the change's outbox jobs to BullMQ now.
 */
export function publisher(redis: Redis, prefix: string, outbox: OutboxDispatcher) {
  return async (change: Change): Promise<void> => {
    await Promise.all([
      publishEvents(redis, prefix, change.projectId, change.events).catch(() => undefined),
      ...change.cancelRunning.map((stageId) =>
        redis.publish(cancelChannel(prefix), stageId).catch(() => undefined),
      ),
      outbox.kick(),
    ])
  }
}
