import { LogLine, LogPage } from '@slipway/contracts'
import { useEffect, useRef, useState } from 'react'
import { api } from '../api/client.ts'
import { firstRetryMs, nextRetryMs } from '../api/live.ts'
import { type Line, LogBuffer } from './buffer.ts'

type LogState = 'loading' | 'live' | 'reconnecting' | 'complete' | 'error'

export interface LogSource {
  buffer: LogBuffer
  /** Changes whenever lines were added (drives rendering). */
  version: number
  state: LogState
  error: string | undefined
}

/** Stored lines per request: the API's maximum (a page also ends at ~2 MiB; the live stream then goes on). */
const pageSize = 10_000
const LogLines = LogLine.array()

/**
 * A stage's log: stored pages first (`GET /api/stages/:id/logs`), then, while the stage is
 * not finished, the live stream (`/logs/live`, SSE) from the last line held. EventSource
 * reconnects with Last-Event-ID after a drop; the buffer drops anything already held, so no
 * line is lost or shown twice. Renders are batched to one per animation frame.
 */
export function useStageLog(stageId: string): LogSource {
  const bufferRef = useRef<LogBuffer>(new LogBuffer())
  const [version, setVersion] = useState(0)
  const [state, setState] = useState<LogState>('loading')
  const [error, setError] = useState<string | undefined>()

  useEffect(() => {
    const buffer = new LogBuffer()
    bufferRef.current = buffer
    setVersion((v) => v + 1)
    setState('loading')
    setError(undefined)
    const controller = new AbortController()
    let source: EventSource | undefined
    let frame = 0
    let retry: ReturnType<typeof setTimeout> | undefined
    let delay = firstRetryMs
    const changed = () => {
      if (frame) return
      frame = requestAnimationFrame(() => {
        frame = 0
        setVersion((v) => v + 1)
      })
    }
    const add = (lines: readonly Line[]) => {
      if (buffer.append(lines)) changed()
    }

    const openLive = () => {
      if (controller.signal.aborted) return
      source = new EventSource(`/api/stages/${stageId}/logs/live?after=${buffer.lastSeq}`)
      source.onopen = () => {
        delay = firstRetryMs
        setState('live')
      }
      source.addEventListener('logs', (message) => {
        try {
          add(LogLines.parse(JSON.parse((message as MessageEvent<string>).data)))
        } catch (caught) {
          console.error('bad log event', caught)
        }
      })
      source.addEventListener('end', () => {
        source?.close()
        setState('complete')
      })
      source.onerror = () => {
        if (source?.readyState === EventSource.CLOSED) {
          // Refused (e.g. the session ended) or gone: open a fresh stream from the last line.
          setState('reconnecting')
          retry = setTimeout(openLive, delay)
          delay = nextRetryMs(delay)
        } else setState('reconnecting')
      }
    }

    const load = async () => {
      try {
        for (let pages = 0; pages < 1000; pages++) {
          const page = await api.get(
            `/api/stages/${stageId}/logs?after=${buffer.lastSeq}&limit=${pageSize}`,
            LogPage,
            { signal: controller.signal, timeoutMs: 60_000 },
          )
          add(page.lines)
          if (page.complete) {
            setState('complete')
            return
          }
          if (page.lines.length < pageSize) break
        }
        openLive()
      } catch (caught) {
        if (controller.signal.aborted) return
        setError((caught as Error).message)
        setState('error')
      }
    }
    void load()
    return () => {
      controller.abort()
      source?.close()
      if (retry) clearTimeout(retry)
      if (frame) cancelAnimationFrame(frame)
    }
  }, [stageId])

  return { buffer: bufferRef.current, version, state, error }
}
