import type { Logger, SecretBox } from '@slipway/core'
import { type Db, secretContext } from '@slipway/db'
import type { Heartbeats, HostPorts, RegisteredInstances, TrafficSwitch } from '@slipway/deploy'
import { DockerHostPool, type HostRecord, type HostRow, hostRecordFromRow } from '@slipway/docker'
import { createTrafficSwitch, DiscoveryRegistry } from '@slipway/gateway'
import type { GitEnv } from '@slipway/git'
import { OutboxDispatcher, Queues } from '@slipway/jobs'
import { createHostPorts, createRuns, type LogLimits, publisher, type Runs } from '@slipway/runs'
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
  /** The environment git runs in, from env.ts (absent in tests: git inherits the process's). */
  gitEnv?: GitEnv
  /** What one attempt of a stage keeps of its log (lines and bytes); default 50,000 / 10 MiB. */
  logLimits?: LogLimits
  /** Moves gateway traffic to and from instances (discovery registry + gateway agent). */
  traffic: TrafficSwitch
  /** What the discovery registry holds (a stopped bridge container's instance is found there). */
  registry: RegisteredInstances & Heartbeats
  /** Host-network ports, leased per host in PostgreSQL. */
  ports: HostPorts
  /** The run lifecycle (pipelines, stages, releases): its methods commit, then publish. */
  runs: Runs
}

/**
 * The worker's dependencies over its database, Redis connection (BullMQ needs
 * maxRetriesPerRequest null) and keyring: queues, outbox, Docker hosts, traffic switch,
 * discovery registry (read only), host-network port leases.
 */
export function createWorkerDeps(options: {
  db: Db
  redis: Redis
  prefix: string
  secrets: SecretBox
  logger: Logger
  workerId: string
  workDir: string
  logLimits?: LogLimits
  gitEnv?: GitEnv
  /** How long stage and deploy leases live without renewal (default 30 s). */
  leaseMs?: number
}): WorkerDeps {
  const { db, redis, prefix, secrets, logger } = options
  const queues = new Queues(redis, prefix, logger)
  const outbox = new OutboxDispatcher(db, queues, logger)
  return {
    ...options,
    queues,
    outbox,
    // Builds run the docker CLI: it takes PATH, HOME and SSH_AUTH_SOCK from the same environment git gets.
    hosts: new DockerHostPool({ cliEnv: options.gitEnv }),
    hostRecord: (row) =>
      hostRecordFromRow(row, (host, envelope) =>
        secrets.decrypt(envelope, secretContext.hostTlsKey(host.id)),
      ),
    traffic: createTrafficSwitch({ redis, prefix, logger }),
    registry: new DiscoveryRegistry({ redis, prefix, logger }),
    ports: createHostPorts(db),
    runs: createRuns({
      db,
      publish: publisher(redis, prefix, outbox, logger),
      log: logger,
      leaseMs: options.leaseMs,
    }),
  }
}
