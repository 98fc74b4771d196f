import { isRetryableCode } from '@slipway/contracts'
import { isAppError } from '@slipway/core'
import { isDatabaseUnreachable } from '@slipway/db'

export type RunnableKind = 'build' | 'push' | 'deploy'

/** Tries per stage kind before a lost worker (or transient error) fails the stage. */
export const maxAttempts: Record<RunnableKind, number> = { build: 3, push: 3, deploy: 2 }

/**
 * Tries a stage has used since it was queued by its pipeline or last retried by a person:
 * `attempt` numbers every try of the stage (and its log), `retryBase` is where a manual retry
 * started counting again.
 */
export function triesUsed(stage: { attempt: number; retryBase: number }): number {
  return stage.attempt - stage.retryBase
}

/**
 * Errors worth another attempt (the infrastructure hiccupped), by the error table
 * (@slipway/contracts errorTable); everything else fails the stage.
 */
export function isTransient(error: unknown): boolean {
  if (isDatabaseUnreachable(error)) return true
  return isAppError(error) && isRetryableCode(error.code)
}

/** What becomes of a stage whose handler threw: another attempt later, or failed now. */
export type FailureOutcome =
  | { kind: 'retry'; attempt: number; of: number; delayMs: number }
  | { kind: 'fail' }

/**
 * The retry policy (pure): a transient error with tries left goes back to the queue after a
 * backoff of 2 s doubling per try (at most 30 s); anything else fails the stage. `tries`: the
 * tries used so far, this one included (triesUsed).
 */
export function classifyFailure(kind: RunnableKind, tries: number, error: unknown): FailureOutcome {
  if (!isTransient(error) || tries >= maxAttempts[kind]) return { kind: 'fail' }
  return {
    kind: 'retry',
    attempt: tries + 1,
    of: maxAttempts[kind],
    delayMs: Math.min(30_000, 2000 * 2 ** (tries - 1)),
  }
}
