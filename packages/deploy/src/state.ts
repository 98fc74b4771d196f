import type { Instance } from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import type { PlannedRetire } from '@slipway/rollout'
import type { TrafficState } from './lifecycle.ts'

/** An instance the rollout knows is running. */
export interface LiveInstance {
  instance: Instance
  traffic: TrafficState
  /** Started by this rollout (a rollback removes it). */
  ours: boolean
}

/** An old instance the rollout retired, with what a rollback needs to bring it back. */
export interface RetiredInstance extends PlannedRetire {
  image: string
}

/** Error for a Docker host found down; `details.host` names it. */
export function hostDown(host: string, cause?: unknown): AppError {
  const why = cause ? `: ${errorMessage(cause)}` : ''
  return new AppError('HOST_UNREACHABLE', `Docker host ${host} is down${why}`, { details: { host }, cause })
}

export function hostOf(error: unknown): string | undefined {
  if (!(error instanceof AppError) || error.code !== 'HOST_UNREACHABLE') return undefined
  const details = error.details as { host?: unknown } | undefined
  return typeof details?.host === 'string' ? details.host : undefined
}

/** Short, container-name-safe form of a release id. */
export function releaseSlug(release: string): string {
  return (
    release
      .toLowerCase()
      .replace(/[^a-z0-9.-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '')
      .slice(0, 20) || 'r'
  )
}
