const tone: Record<string, string> = {
  succeeded: 'ok',
  live: 'ok',
  healthy: 'ok',
  up: 'ok',
  running: 'run',
  deploying: 'run',
  queued: 'wait',
  pending: 'idle',
  waiting: 'wait',
  failed: 'bad',
  unhealthy: 'bad',
  down: 'bad',
  rolled_back: 'warn',
  canceled: 'idle',
  skipped: 'idle',
  superseded: 'idle',
}

/** A status as a word with a colour (never colour alone). */
export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return (
    <span className={`badge badge-${tone[status] ?? 'idle'}`} data-status={status}>
      {label ?? status.replace(/_/g, ' ')}
    </span>
  )
}
