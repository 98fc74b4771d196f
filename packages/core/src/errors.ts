import type { ErrorCode } from '@slipway/contracts'

/**
 * The one error type of Slipway's domain code. It carries a stable code (see
 * @slipway/contracts errorCodes) and optional structured details; the API maps the code to an
 * HTTP status at its edge, workers map it to a stage failure.
 */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly details: unknown

  constructor(code: ErrorCode, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.details = options.details
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError
}

/** Used in exhaustive switches: the compiler proves the default branch unreachable. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`)
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
