import type { RunEvent } from '@slipway/contracts'
import type { Redis } from 'ioredis'

export const eventsKey = (prefix: string, projectId: string) => `${prefix}:events:${projectId}`

/** A stage's live log: stream entries with id `0-<seq>` (see the worker's StageLog). */
export const logStreamKey = (prefix: string, stageId: string) => `${prefix}:logs:${stageId}`

/**
 * Appends an event to the project's Redis stream (bounded to ~1000 entries). The database
 * stays the truth: a lost event only delays the browser until its next refresh.
 */
export async function publishEvents(
  redis: Redis,
  prefix: string,
  projectId: string,
  events: RunEvent[],
): Promise<void> {
  if (!events.length) return
  const pipeline = redis.pipeline()
  for (const event of events) {
    pipeline.xadd(eventsKey(prefix, projectId), 'MAXLEN', '~', '1000', '*', 'event', JSON.stringify(event))
  }
  await pipeline.exec()
}
