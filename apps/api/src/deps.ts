import type { Logger, SecretBox } from '@slipway/core'
import type { Db } from '@slipway/db'
import type { DockerHostPool, HostRecord, HostRow } from '@slipway/docker'
import type { OutboxDispatcher, Queues } from '@slipway/jobs'
import type { Change } from '@slipway/runs'
import type { Redis } from 'ioredis'

/** Everything the API's routes use, created once at start-up (main.ts) or by a test. */
export interface AppDeps {
  db: Db
  redis: Redis
  /** Prefix of every Redis key and BullMQ queue this API uses. */
  redisPrefix: string
  queues: Queues
  /** Moves outbox rows to BullMQ; kicked right after a commit that wrote one. */
  outbox: OutboxDispatcher
  /** Publishes a committed pipeline change: live events, cancel signals, outbox kick. */
  publish(change: Change): Promise<void>
  secrets: SecretBox
  hosts: DockerHostPool
  hostRecord(row: HostRow): HostRecord
  logger: Logger
}
