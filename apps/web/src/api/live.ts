import { useEffect, useState } from 'react'
import { invalidate } from './resource.ts'

export type LiveState = 'connecting' | 'live' | 'reconnecting'

/** The fields of a project event the dashboard reads to know what to refetch. */
interface RunEventIds {
  type?: unknown
  pipelineId?: unknown
  environmentId?: unknown
}

/** Which cached resources an event from the project's live channel makes stale. */
export function keysToRefresh(projectId: string, event: RunEventIds): string[] {
  const keys: string[] = []
  if (event.type === 'pipeline' || event.type === 'stage') {
    keys.push(`pipelines:${projectId}`)
    if (typeof event.pipelineId === 'string')
      keys.push(`pipeline:${event.pipelineId}`, `approval:${event.pipelineId}`)
  }
  if (event.type === 'release' || event.type === 'pipeline') {
    // A pipeline that ends may have changed what is live.
    keys.push(`envs:${projectId}`, `env:${projectId}:`, 'projects')
  }
  return keys
}

/**
 * Keeps the project's pages live: listens to `GET /api/projects/:id/events` (SSE) and
 * refetches what an event touches. EventSource reconnects by itself and resumes after the
 * last event id; after a drop everything of the project is refetched once, in case.
 */
export function useProjectEvents(projectId: string | undefined): LiveState {
  const [state, setState] = useState<LiveState>('connecting')
  useEffect(() => {
    if (!projectId) return
    const source = new EventSource(`/api/projects/${projectId}/events`)
    let dropped = false
    source.onopen = () => {
      setState('live')
      if (dropped) {
        for (const key of [
          `pipelines:${projectId}`,
          'pipeline:',
          'approval:',
          `envs:${projectId}`,
          `env:${projectId}:`,
        ])
          invalidate(key)
        dropped = false
      }
    }
    source.onerror = () => {
      dropped = true
      setState('reconnecting')
    }
    source.addEventListener('run', (message) => {
      let event: RunEventIds
      try {
        event = JSON.parse((message as MessageEvent<string>).data) as RunEventIds
      } catch {
        return
      }
      for (const key of keysToRefresh(projectId, event)) invalidate(key)
    })
    return () => source.close()
  }, [projectId])
  return state
}

/** Refetches a resource every `ms` while the page is visible (for what has no live channel). */
export function usePolling(prefix: string | null, ms: number): void {
  useEffect(() => {
    if (!prefix) return
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') invalidate(prefix)
    }, ms)
    return () => clearInterval(timer)
  }, [prefix, ms])
}
