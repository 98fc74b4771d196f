import { isIP } from 'node:net'
import { gitEnvOf, keyringSpecSchema, parseEnv } from '@slipway/core'
import { z } from 'zod'

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

/** proxy-addr's names for address ranges, accepted beside addresses and CIDRs. */
const proxyRangeNames = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** `a.b.c.d`, `a.b.c.d/n`, an IPv6 address (with /n) or a range name; undefined when valid. */
function proxyEntryProblem(entry: string): string | undefined {
  if (proxyRangeNames.has(entry)) return undefined
  const [address = '', bits, ...rest] = entry.split('/')
  const family = isIP(address)
  if (!family || rest.length)
    return `"${entry}" is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal`
  if (bits === undefined) return undefined
  const max = family === 4 ? 32 : 128
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `"${entry}": the prefix length must be 0..${max}`
  return undefined
}

const trustedProxies = z
  .string()
  .default('')
  .transform((value, context) => {
    const entries = value
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean)
    for (const entry of entries) {
      const problem = proxyEntryProblem(entry)
      if (problem) context.addIssue({ code: 'custom', message: problem })
    }
    return entries
  })

const apiEnvSchema = z
  .object({
    /** Address the API (and the dashboard it serves) listens on. */
    SLIPWAY_HOST: z.string().default('127.0.0.1'),
    /** Port of the API and dashboard. */
    SLIPWAY_PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    /**
     * The address people and GitLab reach Slipway at (scheme, host, port). https here marks
     * the session cookie `Secure`. Default: http://<SLIPWAY_HOST>:<SLIPWAY_PORT>.
     */
    SLIPWAY_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
    /**
     * Reverse proxies whose X-Forwarded-For / -Proto are believed, comma-separated addresses,
     * CIDR ranges or loopback/linklocal/uniquelocal. Empty: none (the peer is the client).
     */
    SLIPWAY_TRUSTED_PROXIES: trustedProxies,
    /** Hours a browser session lives at most from sign-in, however active. */
    SLIPWAY_SESSION_LIFETIME_HOURS: z.coerce.number().int().min(1).max(8760).default(168),
    /** Hours of inactivity after which a session ends (at most the lifetime). */
    SLIPWAY_SESSION_IDLE_HOURS: z.coerce.number().int().min(1).max(8760).default(24),
    /** Live streams (SSE) one user may hold open at once in this API process. */
    SLIPWAY_STREAMS_PER_USER: z.coerce.number().int().min(1).max(1000).default(20),
    /** Live streams this API process holds open at once, everyone together. */
    SLIPWAY_STREAMS_TOTAL: z.coerce.number().int().min(1).max(100_000).default(1000),
    /** PostgreSQL connection URL (the source of truth). */
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
    /** Redis connection URL (queues and live updates). */
    REDIS_URL: z.url({ protocol: /^rediss?$/ }),
    /** Keyring for secrets at rest: `id:base64(32 bytes)[,older...]`, first one encrypts. */
    SLIPWAY_SECRET_KEYS: keyringSpecSchema,
    /** Folder with the built dashboard (apps/web/dist); empty = do not serve it. */
    SLIPWAY_WEB_DIST: z.string().default(''),
    /** Prefix of every Redis key, stream and BullMQ queue (API and workers must agree). */
    SLIPWAY_REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/)
      .default('slipway'),
    /** pino level. */
    LOG_LEVEL: logLevel.default('info'),
    /** Connections in the API's PostgreSQL pool. */
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  })
  .strip()
  .superRefine((env, context) => {
    if (env.SLIPWAY_SESSION_IDLE_HOURS > env.SLIPWAY_SESSION_LIFETIME_HOURS) {
      context.addIssue({
        code: 'custom',
        path: ['SLIPWAY_SESSION_IDLE_HOURS'],
        message: `must be at most SLIPWAY_SESSION_LIFETIME_HOURS (${env.SLIPWAY_SESSION_LIFETIME_HOURS})`,
      })
    }
    if (env.SLIPWAY_STREAMS_PER_USER > env.SLIPWAY_STREAMS_TOTAL) {
      context.addIssue({
        code: 'custom',
        path: ['SLIPWAY_STREAMS_PER_USER'],
        message: `must be at most SLIPWAY_STREAMS_TOTAL (${env.SLIPWAY_STREAMS_TOTAL})`,
      })
    }
  })
  .transform((env) => ({
    ...env,
    SLIPWAY_PUBLIC_URL: env.SLIPWAY_PUBLIC_URL ?? `http://${env.SLIPWAY_HOST}:${env.SLIPWAY_PORT}`,
  }))

export type ApiEnv = z.infer<typeof apiEnvSchema>

export function loadApiEnv(source: Record<string, string | undefined> = process.env): ApiEnv {
  return parseEnv(apiEnvSchema, source)
}

/** The environment git runs in (PATH, HOME, proxies, an SSH agent; no secrets): see gitEnvOf. */
export function loadGitEnv(source: Record<string, string | undefined> = process.env): Record<string, string> {
  return gitEnvOf(source)
}

const opsEnvSchema = z.object({
  DATABASE_URL: z.url(),
  SLIPWAY_SECRET_KEYS: keyringSpecSchema,
})

/** What `slipway backup` / `restore` need: the database and the keyring (to check the secrets). */
export function loadOpsEnv(
  source: Record<string, string | undefined> = process.env,
): z.infer<typeof opsEnvSchema> {
  return parseEnv(opsEnvSchema, source)
}

const migrateEnvSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  /** Where the migrations are (default: the checkout's or the server tree's prisma/migrations). */
  SLIPWAY_MIGRATIONS_DIR: z.string().min(1).optional(),
})

/** What `migrate` needs: the database. */
export function loadMigrateEnv(
  source: Record<string, string | undefined> = process.env,
): z.infer<typeof migrateEnvSchema> {
  return parseEnv(migrateEnvSchema, source)
}
