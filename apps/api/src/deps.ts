import type { Logger, SecretBox } from '@slipway/core'
import { type Db, secretContext } from '@slipway/db'
import { DockerHostPool, type HostRecord, type HostRow, hostRecordFromRow } from '@slipway/docker'
import type { GitEnv } from '@slipway/git'
import { OutboxDispatcher, Queues } from '@slipway/jobs'
import { createRuns, publisher, type Runs } from '@slipway/runs'
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
  /** The run lifecycle (pipelines, stages, releases): its methods commit, then publish. */
  runs: Runs
  secrets: SecretBox
  hosts: DockerHostPool
  hostRecord(row: HostRow): HostRecord
  logger: Logger
  /** The environment git runs in, from env.ts (absent in tests: git inherits the process's). */
  gitEnv?: GitEnv
}

/** The API's dependencies over the given clients; `close()` stops what it started. */
export function createAppDeps(options: {
  db: Db
  redis: Redis
  redisPrefix: string
  secrets: SecretBox
  logger: Logger
  gitEnv?: GitEnv
}): AppDeps & { close(): Promise<void> } {
  const { db, redis, redisPrefix, secrets, logger, gitEnv } = options
  const queues = new Queues(redis, redisPrefix, logger)
  const outbox = new OutboxDispatcher(db, queues, logger)
  return {
    db,
    redis,
    redisPrefix,
    queues,
    outbox,
    runs: createRuns({ db, publish: publisher(redis, redisPrefix, outbox, logger), log: logger }),
    secrets,
    hosts: new DockerHostPool(),
    hostRecord: (row) =>
      hostRecordFromRow(row, (host, envelope) =>
        secrets.decrypt(envelope, secretContext.hostTlsKey(host.id)),
      ),
    logger,
    gitEnv,
    async close() {
      await outbox.stop()
      await queues.close()
    },
  }
}
