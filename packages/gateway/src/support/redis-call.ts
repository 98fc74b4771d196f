import { AppError, errorMessage, isAppError } from '@slipway/core'
import { bounded } from './bounded.ts'

/** Default limit for one Redis round trip whose caller gave no signal of its own. */
const redisTimeoutMs = 5_000

export interface CallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

/** A Redis call bounded in time and abortable; transport failures become AppErrors. */
export async function redisCall<T>(what: string, work: Promise<T>, options: CallOptions = {}): Promise<T> {
  try {
    return await bounded(what, work, {
      timeoutMs: options.timeoutMs ?? redisTimeoutMs,
      signal: options.signal,
    })
  } catch (error) {
    if (isAppError(error)) throw error
    throw new AppError('DEPENDENCY_UNAVAILABLE', `${what}: Redis failed: ${errorMessage(error)}`, {
      cause: error,
    })
  }
}
