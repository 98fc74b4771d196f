import type { Logger, SecretBox } from '@slipway/core'
import type { Db } from '@slipway/db'
import type { TrafficSwitch } from '@slipway/deploy'
import type { DockerHostPool, HostRecord, HostRow } from '@slipway/docker'
import type { OutboxDispatcher, Queues } from '@slipway/jobs'
import type { Change } from '@slipway/runs'
import type { Redis } from 'ioredis'

/** What the worker's processors use, created once in main.ts (or by a test). */
export interface WorkerDeps {
  db: Db
  redis: Redis
  prefix: string
  queues: Queues
  outbox: OutboxDispatcher
  secrets: SecretBox
  hosts: DockerHostPool
  hostRecord(row: HostRow): HostRecord
  logger: Logger
  workerId: string
  /** Where builds check out sources (a scratch folder per stage attempt). */
  workDir: string
  /** Moves gateway traffic to and from instances (discovery registry + gateway agent). */
  traffic: TrafficSwitch
  /** Publishes a committed change (events, cancel signals) and dispatches its outbox rows. */
  publish(change: Change): Promise<void>
}
