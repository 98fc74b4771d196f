import type { Logger, SecretBox } from '@slipway/core'
import type { Db } from '@slipway/db'
import type { DockerHostPool, HostRecord, HostRow } from '@slipway/docker'
import type { Redis } from 'ioredis'

/** Everything the API's routes use, created once at start-up (main.ts) or by a test. */
export interface AppDeps {
  db: Db
  redis: Redis
  secrets: SecretBox
  hosts: DockerHostPool
  hostRecord(row: HostRow): HostRecord
  logger: Logger
}
