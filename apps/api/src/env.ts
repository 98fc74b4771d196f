import { keyringSpecSchema, parseEnv } from '@slipway/core'
import { z } from 'zod'

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

const apiEnvSchema = z
  .object({
    /** Address the API (and the dashboard it serves) listens on. */
    SLIPWAY_HOST: z.string().default('127.0.0.1'),
    /** Port of the API and dashboard. */
    SLIPWAY_PORT: z.coerce.number().int().min(1).max(65535).default(3000),
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

export type ApiEnv = z.infer<typeof apiEnvSchema>

export function loadApiEnv(source: Record<string, string | undefined> = process.env): ApiEnv {
  return parseEnv(apiEnvSchema, source)
}
