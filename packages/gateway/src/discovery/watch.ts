import type { DiscoveryEntry } from '@slipway/contracts'
import { errorMessage } from '@slipway/core'

/** What the registry holds for one site right now. */
export interface SiteSnapshot {
  /** Live entries, sorted by host then port. */
  entries: DiscoveryEntry[]
  /** `{host}-{port}` of entries whose TTL ran out without a deregister, sorted. */
  expired: string[]
}

export interface WatchOptions {
  /** Re-read period, so expiries (which publish nothing) are noticed. Default 1000 ms. */
  resyncMs?: number
  /** A failed read (Redis down); the watch keeps going and retries on the next tick. */
  onError?: (error: unknown) => void
}

export interface RegistryWatch {
  /** Re-reads now (and notifies if the snapshot changed). */
  refresh(): Promise<void>
  close(): Promise<void>
}

interface WatchParts {
  subscribe(handler: (message: string) => void): Promise<() => Promise<void>>
  read(signal: AbortSignal): Promise<SiteSnapshot>
  onChange(snapshot: SiteSnapshot): void
  options: WatchOptions
}

function fingerprint(snapshot: SiteSnapshot): string {
  return JSON.stringify([
    snapshot.entries.map((entry) => [entry.id, entry.host, entry.port, entry.release, entry.registeredAt]),
    snapshot.expired,
  ])
}

/** Coalescing watch loop: at most one read runs; changes during a read trigger one more. */
export async function watchSite(parts: WatchParts): Promise<RegistryWatch> {
  const controller = new AbortController()
  let last: string | undefined
  let running: Promise<void> | undefined
  let again = false

  const readOnce = async (): Promise<void> => {
    try {
      const snapshot = await parts.read(controller.signal)
      const print = fingerprint(snapshot)
      if (print !== last && !controller.signal.aborted) {
        last = print
        parts.onChange(snapshot)
      }
    } catch (error) {
      if (!controller.signal.aborted) parts.options.onError?.(error)
    }
  }

  const refresh = (): Promise<void> => {
    if (controller.signal.aborted) return Promise.resolve()
    if (running) {
      again = true
      return running
    }
    running = (async () => {
      do {
        again = false
        await readOnce()
      } while (again && !controller.signal.aborted)
      running = undefined
    })()
    return running
  }

  const unsubscribe = await parts.subscribe(() => void refresh())
  const timer = setInterval(() => void refresh(), parts.options.resyncMs ?? 1000)
  await refresh()

  return {
    refresh,
    async close() {
      controller.abort(new Error('watch closed'))
      clearInterval(timer)
      await unsubscribe().catch((error: unknown) => parts.options.onError?.(new Error(errorMessage(error))))
      await running
    },
  }
}
