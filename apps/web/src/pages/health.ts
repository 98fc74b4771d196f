import type { Environment } from '@slipway/contracts'

/** Health of an environment at a glance: its live release and whether its hosts answer. */
export function environmentHealth(env: Environment): { status: string; label: string } {
  const down = env.hosts.filter((h) => h.status !== 'up' && h.status !== 'unknown')
  if (!env.live) return { status: 'pending', label: 'nothing live' }
  if (down.length)
    return { status: 'unhealthy', label: `${down.length} host${down.length > 1 ? 's' : ''} down` }
  return { status: 'live', label: 'serving' }
}
