import { setMaxListeners } from 'node:events'
import { AppError } from '@slipway/core'

/** Resolves after `ms`, or rejects with CANCELED when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(canceled(signal))
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(canceled(signal))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export function canceled(signal?: AbortSignal): AppError {
  const reason = signal?.reason
  if (reason instanceof AppError) return reason
  if (reason instanceof DOMException && reason.name === 'TimeoutError')
    return new AppError('TIMEOUT', 'the operation timed out', { cause: reason })
  return new AppError('CANCELED', 'the operation was canceled', { cause: reason })
}

/** Maps `items` through `fn` with at most `limit` calls at once; results keep their order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index] as T, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker))
  return results
}

/** A signal that aborts with `signal` or after `ms`. */
export function within(ms: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(ms)
  return signal ? AbortSignal.any([signal, timeout]) : timeout
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`
}

/**
 * A signal that aborts with `parent`, for code that hangs many short-lived listeners on it
 * (the parent keeps one listener; ours has no listener limit). Call `dispose()` when done.
 */
export function linkedSignal(parent: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const inner = new AbortController()
  setMaxListeners(0, inner.signal)
  const forward = () => inner.abort(parent.reason)
  if (parent.aborted) forward()
  else parent.addEventListener('abort', forward, { once: true })
  return { signal: inner.signal, dispose: () => parent.removeEventListener('abort', forward) }
}
