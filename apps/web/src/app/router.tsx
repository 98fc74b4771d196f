import { type AnchorHTMLAttributes, type MouseEvent, useCallback, useSyncExternalStore } from 'react'

const listeners = new Set<() => void>()
const notify = () => {
  for (const listener of listeners) listener()
}
if (typeof window !== 'undefined') window.addEventListener('popstate', notify)

function subscribe(listener: () => void) {
  listeners.add(listener)
  return () => {
    listeners.delete(listener)
  }
}

/** Moves to another page of the dashboard without a reload. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', to)
  else history.pushState(null, '', to)
  notify()
  if (!options.replace) window.scrollTo(0, 0)
}

/** The current path and query string; components re-render when they change. */
export function useLocation(): { path: string; search: string } {
  const path = useSyncExternalStore(subscribe, () => location.pathname)
  const search = useSyncExternalStore(subscribe, () => location.search)
  return { path, search }
}

/**
 * Matches `/p/:project/pipelines/:id` against a path; returns the decoded parameters or
 * null. A trailing `*` matches the rest (as `rest`).
 */
export function matchRoute(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/').filter(Boolean)
  const have = path.split('/').filter(Boolean)
  const params: Record<string, string> = {}
  for (let i = 0; i < want.length; i++) {
    const part = want[i]!
    if (part === '*') {
      params.rest = have.slice(i).map(decodeURIComponent).join('/')
      return params
    }
    const value = have[i]
    if (value === undefined) return null
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(value)
    else if (part !== value) return null
  }
  return have.length === want.length ? params : null
}

/** Query parameters of the page, and a setter that keeps the others. */
export function useQuery(): [URLSearchParams, (changes: Record<string, string | undefined>) => void] {
  const { path, search } = useLocation()
  const params = new URLSearchParams(search)
  const update = useCallback(
    (changes: Record<string, string | undefined>) => {
      const next = new URLSearchParams(search)
      for (const [key, value] of Object.entries(changes)) {
        if (value === undefined || value === '') next.delete(key)
        else next.set(key, value)
      }
      const text = next.toString()
      navigate(text ? `${path}?${text}` : path, { replace: true })
    },
    [path, search],
  )
  return [params, update]
}

/** An `<a>` that moves inside the dashboard without reloading (new tabs still work). */
export function Link({ to, onClick, ...props }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event)
    if (
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey
    )
      return
    event.preventDefault()
    navigate(to)
  }
  return <a href={to} onClick={handle} {...props} />
}
