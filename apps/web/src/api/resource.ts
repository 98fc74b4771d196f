import { useCallback, useEffect, useSyncExternalStore } from 'react'

/** What a component sees of a resource: the last data, the last error, whether a fetch runs. */
export interface Snapshot<T> {
  data: T | undefined
  error: Error | undefined
  loading: boolean
}

interface Entry {
  snapshot: Snapshot<unknown>
  listeners: Set<() => void>
  loader: (signal: AbortSignal) => Promise<unknown>
  inFlight: boolean
  /** Another fetch was asked for while one ran: run once more when it ends. */
  again: boolean
}

const entries = new Map<string, Entry>()
const empty: Snapshot<never> = { data: undefined, error: undefined, loading: false }

function set(entry: Entry, patch: Partial<Snapshot<unknown>>) {
  entry.snapshot = { ...entry.snapshot, ...patch }
  for (const listener of entry.listeners) listener()
}

async function run(entry: Entry): Promise<void> {
  if (entry.inFlight) {
    entry.again = true
    return
  }
  entry.inFlight = true
  set(entry, { loading: true })
  const controller = new AbortController()
  try {
    const data = await entry.loader(controller.signal)
    set(entry, { data, error: undefined, loading: false })
  } catch (error) {
    set(entry, { error: error as Error, loading: false })
  } finally {
    entry.inFlight = false
    if (entry.again) {
      entry.again = false
      void run(entry)
    }
  }
}

/**
 * Re-fetches every resource whose key starts with `prefix` (the ones on screen now; the
 * others are forgotten and fetched afresh when shown again). Old data stays visible meanwhile.
 */
export function invalidate(prefix: string): void {
  for (const [key, entry] of entries) {
    if (!key.startsWith(prefix)) continue
    if (entry.listeners.size) void run(entry)
    else entries.delete(key)
  }
}

/** Puts a fresh answer (e.g. the pipeline an action returned) in place without a fetch. */
export function prime<T>(key: string, data: T): void {
  const entry = entries.get(key)
  if (entry) set(entry, { data, error: undefined })
}

function entryFor(key: string, loader: (signal: AbortSignal) => Promise<unknown>): Entry {
  let entry = entries.get(key)
  if (!entry) {
    entry = { snapshot: empty, listeners: new Set(), loader, inFlight: false, again: false }
    entries.set(key, entry)
  }
  entry.loader = loader
  return entry
}

/**
 * Data from the API under a cache key. Shared by every component using the same key,
 * refreshed by `invalidate` (live events) and by `reload`. `key = null` loads nothing.
 */
export function useResource<T>(
  key: string | null,
  loader: (signal: AbortSignal) => Promise<T>,
): Snapshot<T> & { reload: () => void } {
  const subscribe = useCallback(
    (listener: () => void) => {
      if (!key) return () => undefined
      const entry = entryFor(key, loader)
      entry.listeners.add(listener)
      if (entry.snapshot === empty && !entry.inFlight) void run(entry)
      return () => {
        entry.listeners.delete(listener)
      }
    },
    // The loader is refreshed below; subscribing again on each render would refetch.
    [key, loader],
  )
  const getSnapshot = () => (key ? (entries.get(key)?.snapshot ?? empty) : empty)
  const snapshot = useSyncExternalStore(subscribe, getSnapshot, getSnapshot) as Snapshot<T>
  useEffect(() => {
    if (key) entryFor(key, loader)
  })
  const reload = useCallback(() => {
    const entry = key ? entries.get(key) : undefined
    if (entry) void run(entry)
  }, [key])
  const loading = snapshot.loading || (key !== null && snapshot === empty)
  return { ...snapshot, loading, reload }
}
