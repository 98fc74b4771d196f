import { RunEvent } from '@slipway/contracts'
import { useEffect, useState } from 'react'
import { invalidate } from './resource.ts'

export type LiveState = 'connecting' | 'live' | 'reconnecting'

/** Which cached resources an event from the project's live channel makes stale. */
export function keysToRefresh(projectId: string, event: RunEvent): string[] {
  const lists = [`envs:${projectId}`, `env:${projectId}:`, 'projects']
  switch (event.type) {
    case 'stage':
      return [`pipelines:${projectId}`, `pipeline:${event.pipelineId}`, `approval:${event.pipelineId}`]
    case 'pipeline':
      // A pipeline that ends may have changed what is live.
      return [
        `pipelines:${projectId}`,
        `pipeline:${event.pipelineId}`,
        `approval:${event.pipelineId}`,
        ...lists,
      ]
    case 'release':
      return lists
  }
}

/** When the browser gives up on a stream: the first wait before a fresh one, then doubled up to 30 s. */
export const firstRetryMs = 3000
export function nextRetryMs(delay: number): number {
  return Math.min(30_000, delay * 2)
}

/** The `run` event's data as the contract says, or null (noted in the console) when it is not one. */
export function parseRunEvent(data: string): RunEvent | null {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch (error) {
    // Not JSON: refused below like any other event that is not a run event.
    if (!(error instanceof SyntaxError)) throw error
    json = undefined
  }
  const parsed = RunEvent.safeParse(json)
  if (parsed.success) return parsed.data
  console.warn('ignored a project event this page does not know', data)
  return null
}

/**
 * Keeps the project's pages live: listens to `GET /api/projects/:id/events` (SSE) and
 * refetches what an event touches. EventSource reconnects by itself and resumes after the
 * last event id; when the browser gives up (the stream was closed, or a reconnect was
 * answered with an error) a fresh stream is opened after 3 s, then 6, 12, … up to 30 s. After a drop everything of the
 * project is refetched once, as events may have been missed.
 */
export function useProjectEvents(projectId: string | undefined): LiveState {
  const [state, setState] = useState<LiveState>('connecting')
  useEffect(() => {
    if (!projectId) return
    let source: EventSource | undefined
    let retry: ReturnType<typeof setTimeout> | undefined
    let dropped = false
    let stopped = false
    let delay = firstRetryMs
    const open = () => {
      if (stopped) return
      const current = new EventSource(`/api/projects/${projectId}/events`)
      source = current
      current.onopen = () => {
        delay = firstRetryMs
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
      current.onerror = () => {
        dropped = true
        setState('reconnecting')
        if (current.readyState === EventSource.CLOSED && current === source) {
          clearTimeout(retry)
          retry = setTimeout(open, delay)
          delay = nextRetryMs(delay)
        }
      }
      current.addEventListener('run', (message) => {
        const event = parseRunEvent((message as MessageEvent<string>).data)
        if (event) for (const key of keysToRefresh(projectId, event)) invalidate(key)
      })
    }
    open()
    return () => {
      stopped = true
      clearTimeout(retry)
      source?.close()
    }
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
