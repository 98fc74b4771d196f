import { AppError } from '@slipway/core'

function canceled(what: string, signal: AbortSignal): AppError {
  return new AppError('CANCELED', `${what}: canceled`, { cause: signal.reason })
}

/**
 * Waits for `work` at most `timeoutMs`, and no longer than `signal` allows. The work itself
 * may still finish later (a queued Redis command cannot be taken back); only the wait ends.
 */
export function bounded<T>(
  what: string,
  work: Promise<T>,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<T> {
  const { signal, timeoutMs } = options
  if (signal?.aborted) {
    // Nobody waits for the work any more: its outcome is dropped on purpose (see above).
    // catch-ok: the caller gets CANCELED; the work's own failure has no reader left
    work.catch(() => undefined)
    return Promise.reject(canceled(what, signal))
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      reject(new AppError('TIMEOUT', `${what}: no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    const onAbort = (): void => {
      cleanup()
      reject(canceled(what, signal as AbortSignal))
    }
    const cleanup = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => {
        cleanup()
        resolve(value)
      },
      (error: unknown) => {
        cleanup()
        reject(error)
      },
    )
  })
}

/** Sleeps `ms`, or rejects with CANCELED as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return bounded('sleep', new Promise<never>(() => undefined), { timeoutMs: ms, signal }).catch(
    (error: unknown) => {
      if (error instanceof AppError && error.code === 'TIMEOUT') return
      throw error
    },
  )
}
