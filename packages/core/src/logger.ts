import { type Logger, pino } from 'pino'

export type { Logger }

/**
 * Paths pino removes from every log line. Tokens, passwords, cookies and registry
 * credentials never reach a log, whatever object carries them.
 */
export const redactPaths = [
  'password',
  '*.password',
  'passwordHash',
  '*.passwordHash',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authconfig',
  '*.authconfig',
  'auth',
  '*.auth',
  'registryPassword',
  '*.registryPassword',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-gitlab-token"]',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
]

export interface LoggerOptions {
  name: string
  level: string
  /** Extra bindings on every line (e.g. the worker id). */
  base?: Record<string, unknown>
  destination?: pino.DestinationStream
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level,
      base: { ...options.base },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  )
}
