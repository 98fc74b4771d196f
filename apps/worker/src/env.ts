import { hostname } from 'node:os'
import { Slug } from '@slipway/contracts'
import { gitEnvOf, keyringSpecSchema, parseEnv } from '@slipway/core'
import { defaultBindAddress } from '@slipway/gateway'
import { z } from 'zod'

const workerEnvSchema = z
  .object({
    /** PostgreSQL connection URL (the source of truth). */
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
    /** Redis connection URL (BullMQ queues). */
    REDIS_URL: z.url({ protocol: /^rediss?$/ }),
    /** Keyring for secrets at rest, the same as the API's. */
    SLIPWAY_SECRET_KEYS: keyringSpecSchema,
    /** This worker's name in logs and leases (default: hostname-pid). */
    WORKER_ID: z.string().min(1).default(`${hostname()}-${process.pid}`),
    /** Jobs this worker runs at once. */
    WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    /** Seconds to let running jobs finish on SIGTERM before they are released. */
    WORKER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
    /**
     * The build agent groups whose builds and pushes this worker runs: `*` (every group, found
     * in the hosts and projects as they appear) or names separated by commas. Deploys run on
     * any worker.
     */
    WORKER_BUILD_GROUPS: z
      .string()
      .default('*')
      .transform((value) => (value.trim() === '*' ? '*' : value.split(',').map((name) => name.trim())))
      .pipe(z.union([z.literal('*'), z.array(Slug).min(1)])),
    /** Seconds between Docker host probes. */
    HOST_PROBE_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(15),
    /** Scratch folder for build checkouts (default: <tmp>/slipway-work). */
    WORKER_WORK_DIR: z.string().min(1).optional(),
    /** The dashboard's address, for links in GitLab commit statuses and notifications. */
    SLIPWAY_PUBLIC_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:3000'),
    /** The HAProxy gateway folder this worker keeps in line with discovery (fleet: GATEWAY_DIR); unset = none. */
    GATEWAY_DIR: z.string().min(1).optional(),
    /**
     * The address each environment's gateway port listens on: 127.0.0.1 serves this machine only
     * (a proxy in front, the local fleet); 0.0.0.0 every address (a server's gateway).
     */
    GATEWAY_BIND_ADDRESS: z.union([z.ipv4(), z.ipv6()]).default(defaultBindAddress),
    /** Prefix of every Redis key, stream and BullMQ queue (API and workers must agree). */
    SLIPWAY_REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/)
      .default('slipway'),
    /** Watch live environments (health monitors, self-healing); one worker leads at a time. */
    SUPERVISE: z
      .enum(['true', 'false', '1', '0'])
      .default('true')
      .transform((value) => value === 'true' || value === '1'),
    /**
     * Seconds a stage's lease (and its deploy lease) lives without a heartbeat: how soon another
     * worker takes over the stages of a worker that died. Heartbeats come every third of it.
     */
    STAGE_LEASE_SECONDS: z.coerce.number().int().min(3).max(600).default(30),
    /** Seconds between routine reconciles of each live environment. */
    RECONCILE_INTERVAL_SECONDS: z.coerce.number().int().min(5).max(3600).default(30),
    /** Lines one attempt of a stage keeps in its log; past them (or the bytes) one "truncated" line. */
    STAGE_LOG_MAX_LINES: z.coerce.number().int().min(100).max(1_000_000).default(50_000),
    /** Bytes of text one attempt of a stage keeps in its log (default 10 MiB). */
    STAGE_LOG_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(64 * 1024)
      .max(256 * 1024 * 1024)
      .default(10 * 1024 * 1024),
    /** pino level. */
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strip()

export type WorkerEnv = z.infer<typeof workerEnvSchema>

export function loadWorkerEnv(source: Record<string, string | undefined> = process.env): WorkerEnv {
  return parseEnv(workerEnvSchema, source)
}

/** The environment git runs in (PATH, HOME, proxies, an SSH agent; no secrets): see gitEnvOf. */
export function loadGitEnv(source: Record<string, string | undefined> = process.env): Record<string, string> {
  return gitEnvOf(source)
}
