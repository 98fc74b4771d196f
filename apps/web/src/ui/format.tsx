import { useEffect, useState } from 'react'

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
})

/** The viewer's own time zone name, e.g. Europe/Paris. */
export const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone

function formatDuration(ms: number): string {
  if (ms < 0) ms = 0
  const seconds = Math.round(ms / 1000)
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours}h ${minutes % 60}m`
  return `${Math.floor(hours / 24)}d ${hours % 24}h`
}

export function ago(date: Date, now = Date.now()): string {
  const ms = now - date.getTime()
  if (ms < 5000) return 'just now'
  return `${formatDuration(ms)} ago`
}

/** How long a container has been up, coarse: "up 42s", "up 3m", "up 5h 12m", "up 3d 4h". */
export function uptime(startedAt: Date, now = Date.now()): string {
  const seconds = Math.max(0, Math.floor((now - startedAt.getTime()) / 1000))
  if (seconds < 60) return `up ${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `up ${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `up ${hours}h ${minutes % 60}m`
  return `up ${Math.floor(hours / 24)}d ${hours % 24}h`
}

/** A moment in the viewer's time zone, relative, with the exact time on hover. */
export function Time({ value, relative = true }: { value: Date | null | undefined; relative?: boolean }) {
  if (!value) return <span className="muted">—</span>
  const exact = `${timeFormat.format(value)} (${localZone})`
  return (
    <time dateTime={value.toISOString()} title={exact}>
      {relative ? ago(value) : timeFormat.format(value)}
    </time>
  )
}

/** Uptime since `value`, with the exact start on hover. */
export function Uptime({ value }: { value: Date | null }) {
  if (!value) return <span className="muted">—</span>
  return (
    <time dateTime={value.toISOString()} title={`started ${timeFormat.format(value)} (${localZone})`}>
      {uptime(value)}
    </time>
  )
}

/** How long something took, or has been running for. */
export function Duration({ from, to }: { from: Date | null; to: Date | null }) {
  if (!from) return <span className="muted">—</span>
  return <span>{formatDuration((to ?? new Date()).getTime() - from.getTime())}</span>
}

export function shortSha(sha: string): string {
  return sha.slice(0, 8)
}

/** `registry/repo@sha256:abcdef...` -> `sha256:abcdef012345`. */
export function shortDigest(digest: string | null | undefined): string {
  if (!digest) return '—'
  const at = digest.lastIndexOf('@')
  const bare = at >= 0 ? digest.slice(at + 1) : digest
  return bare.slice(0, 19)
}

/** Re-renders every `ms` while `enabled` (running durations, "ago" texts). */
export function useTick(ms: number, enabled = true): void {
  const [, setTick] = useState(0)
  useEffect(() => {
    if (!enabled) return
    const timer = setInterval(() => setTick((t) => t + 1), ms)
    return () => clearInterval(timer)
  }, [ms, enabled])
}
