import { setTimeout as sleep } from 'node:timers/promises'
import type { Client } from '../client.ts'

/** One log line as the API sends it: sequence number (from 1), time (epoch ms), text. */
export type LogLine = [seq: number, at: number, text: string]

/** A time the stream was away: from the moment it broke to the moment a new one opened. */
interface Outage {
  brokeAt: number
  backAt?: number
}

export interface LogFollower {
  /** Every line received, in arrival order (a line sent twice is here twice). */
  readonly lines: LogLine[]
  readonly outages: Outage[]
  /** Streams opened (1 + reconnections). */
  connects(): number
  /** The first line received that matches (waiting for it up to `ms`). */
  waitFor(pattern: RegExp, ms?: number): Promise<LogLine>
  /** Resolves once the stream said `end` (the stage finished and every line was sent). */
  readonly ended: Promise<void>
  close(): void
}

/** One Server-Sent Event: its `event`, `id` and `data` fields (or `retry` alone). */
interface ServerEvent {
  event?: string
  id?: string
  data?: string
  retry?: number
}

function parseEvent(block: string): ServerEvent {
  const event: ServerEvent = {}
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'event') event.event = value
    else if (field === 'id') event.id = value
    else if (field === 'data') event.data = event.data === undefined ? value : `${event.data}\n${value}`
    else if (field === 'retry' && /^\d+$/.test(value)) event.retry = Number(value)
  }
  return event
}

/**
 * Follows a stage's live log (`/api/stages/:id/logs/live`) as the dashboard's EventSource
 * does: from line 0, and after a drop (the API gone, the connection refused) again after the
 * server's `retry` delay with `Last-Event-ID` set to the last event's id, until the stream
 * says `end`, `close()` is called or `maxMs` passes.
 */
export function followStageLog(
  client: Client,
  stageId: string,
  maxMs = 300_000,
  /** The APIs to use, one after the other: a reconnection goes to the next (the last stays). */
  urls: readonly string[] = [client.url],
): LogFollower {
  const lines: LogLine[] = []
  const outages: Outage[] = []
  const waiting: { pattern: RegExp; resolve: (line: LogLine) => void }[] = []
  const controller = new AbortController()
  const deadline = Date.now() + maxMs
  let connects = 0
  let lastId: string | undefined
  let retryMs = 2000

  const received = (batch: LogLine[]) => {
    for (const line of batch) {
      lines.push(line)
      for (const waiter of [...waiting])
        if (waiter.pattern.test(line[2])) {
          waiting.splice(waiting.indexOf(waiter), 1)
          waiter.resolve(line)
        }
    }
  }
  const broke = () => {
    const last = outages.at(-1)
    if (!last || last.backAt !== undefined) outages.push({ brokeAt: Date.now() })
  }

  /** Reads one stream; true once it said `end`. */
  const readStream = async (body: AsyncIterable<Uint8Array>): Promise<boolean> => {
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true })
      for (let split = buffer.indexOf('\n\n'); split >= 0; split = buffer.indexOf('\n\n')) {
        const event = parseEvent(buffer.slice(0, split))
        buffer = buffer.slice(split + 2)
        if (event.retry !== undefined) retryMs = event.retry
        if (event.id !== undefined) lastId = event.id
        if (event.event === 'logs' && event.data) received(JSON.parse(event.data) as LogLine[])
        if (event.event === 'end') return true
      }
    }
    return false
  }

  const ended = (async () => {
    while (!controller.signal.aborted && Date.now() < deadline) {
      try {
        // The first stream on the first API; after each break, the next one.
        const base = urls[Math.min(outages.length, urls.length - 1)]
        const response = await fetch(`${base ?? client.url}/api/stages/${stageId}/logs/live?after=0`, {
          headers: {
            authorization: `Bearer ${client.token}`,
            accept: 'text/event-stream',
            ...(lastId === undefined ? {} : { 'last-event-id': lastId }),
          },
          signal: AbortSignal.any([
            controller.signal,
            AbortSignal.timeout(Math.max(1, deadline - Date.now())),
          ]),
        })
        if (response.status !== 200 || !response.body) {
          await response.body?.cancel()
          throw new Error(`the live log answered ${response.status}`)
        }
        connects++
        const last = outages.at(-1)
        if (last && last.backAt === undefined) last.backAt = Date.now()
        if (await readStream(response.body as unknown as AsyncIterable<Uint8Array>)) return
        // The server closed the stream without `end`: reconnect, as EventSource does.
        broke()
      } catch (error) {
        if (controller.signal.aborted) return
        // A refused connection, a reset stream, a non-200 answer: the next attempt after the delay.
        if (!(error instanceof Error)) throw error
        broke()
      }
      await sleep(retryMs)
    }
    if (!controller.signal.aborted)
      throw new Error(`the live log of ${stageId} did not end within ${maxMs} ms`)
  })()
  // catch-ok: observed by whoever awaits `ended`; never an unhandled rejection meanwhile.
  ended.catch(() => undefined)

  return {
    lines,
    outages,
    connects: () => connects,
    ended,
    waitFor(pattern, ms = 120_000) {
      const seen = lines.find((line) => pattern.test(line[2]))
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no log line matching ${pattern} within ${ms} ms`)),
          ms,
        )
        waiting.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer)
            resolve(line)
          },
        })
      })
    },
    close() {
      controller.abort()
    },
  }
}

/** Problems with a follower's lines against the stored log: lost, repeated or out of order. */
export function streamProblems(received: readonly LogLine[], stored: readonly LogLine[]): string[] {
  const problems: string[] = []
  const seqs = received.map((line) => line[0])
  const repeated = seqs.filter((seq, i) => seqs.indexOf(seq) !== i)
  if (repeated.length)
    problems.push(`lines received twice: ${[...new Set(repeated)].slice(0, 10).join(', ')}`)
  const back = seqs.findIndex((seq, i) => i > 0 && seq <= (seqs[i - 1] ?? 0))
  if (back > 0) problems.push(`lines out of order: ${seqs[back]} after ${seqs[back - 1]}`)
  const got = new Map(received.map((line) => [line[0], line[2]]))
  const lost = stored.filter((line) => got.get(line[0]) !== line[2]).map((line) => line[0])
  if (lost.length) problems.push(`lines lost or changed: ${lost.slice(0, 10).join(', ')}`)
  if (received.length !== stored.length) problems.push(`${received.length} received, ${stored.length} stored`)
  return problems
}

/** A project's live events (`/api/projects/:p/events`) as one client on one API receives them. */
export interface EventFollower {
  /** `[stream id, event data]` of every `run` event, in arrival order. */
  readonly events: [string, unknown][]
  close(): void
}

/** Follows a project's events on the API at `url` until closed or the stream ends. */
export function followProjectEvents(url: string, client: Client, project: string): EventFollower {
  const events: [string, unknown][] = []
  const controller = new AbortController()
  void (async () => {
    const response = await fetch(`${url}/api/projects/${project}/events`, {
      headers: { authorization: `Bearer ${client.token}`, accept: 'text/event-stream' },
      signal: controller.signal,
    })
    if (response.status !== 200 || !response.body) throw new Error(`the events answered ${response.status}`)
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true })
      for (let split = buffer.indexOf('\n\n'); split >= 0; split = buffer.indexOf('\n\n')) {
        const event = parseEvent(buffer.slice(0, split))
        buffer = buffer.slice(split + 2)
        if (event.event === 'run' && event.id && event.data) events.push([event.id, JSON.parse(event.data)])
      }
    }
  })().catch((error: unknown) => {
    // The stream's end (closed, or its API killed) is the end of what this client saw.
    if (!controller.signal.aborted && !(error instanceof TypeError)) console.warn('events stream:', error)
  })
  return { events, close: () => controller.abort() }
}
