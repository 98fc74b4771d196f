import http from 'node:http'
import { now } from './measure.ts'

type Line = [number, number, string]

/** One Server-Sent Events stream read to its end (or until closed), parsed event by event. */
function follow(
  url: string,
  token: string,
  onEvent: (event: { id: string; event: string; data: string }, at: number) => void,
) {
  let request: http.ClientRequest | undefined
  let resolveOpen: (status: number) => void = () => undefined
  const opened = new Promise<number>((resolve) => {
    resolveOpen = resolve
  })
  const errors: string[] = []
  /** Closed by the reader: the errors of the teardown are not the server's. */
  let closing = false
  const noteError = (error: Error) => {
    if (!closing) errors.push(error.message)
  }
  const ended = new Promise<void>((resolve) => {
    request = http.get(
      url,
      { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (response) => {
        resolveOpen(response.statusCode ?? 0)
        let buffer = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          const at = now()
          buffer += chunk
          let split = buffer.indexOf('\n\n')
          while (split >= 0) {
            const block = buffer.slice(0, split)
            buffer = buffer.slice(split + 2)
            split = buffer.indexOf('\n\n')
            const event = { id: '', event: 'message', data: '' }
            for (const line of block.split('\n')) {
              if (line.startsWith('id: ')) event.id = line.slice(4)
              else if (line.startsWith('event: ')) event.event = line.slice(7)
              else if (line.startsWith('data: ')) event.data += line.slice(6)
            }
            if (event.data) onEvent(event, at)
          }
        })
        response.on('end', resolve)
        response.on('close', resolve)
        response.on('error', noteError)
      },
    )
    request.on('error', (error) => {
      noteError(error)
      resolveOpen(0)
      resolve()
    })
  })
  return {
    opened,
    ended,
    errors,
    close: () => {
      closing = true
      request?.destroy()
    },
  }
}

/** What one client (a browser tab on a pipeline page) saw. */
interface ClientView {
  logStatus: number
  eventsStatus: number
  /** Log lines received, by sequence number, in order; out-of-order or repeated ones counted apart. */
  lines: number
  outOfOrder: number
  logEnded: boolean
  /** Run event ids received (Redis stream ids: `<ms>-<n>`). */
  eventIds: Set<string>
  errors: string[]
}

/**
 * `clients` readers each following a stage's live log and its project's events at once, two
 * streams per client, each on a connection of its own as a browser holds them. Latencies are
 * write -> received for log lines written after the client's log stream opened, and publish
 * -> received for run events.
 */
export function followLive(options: {
  url: string
  tokens: readonly string[]
  clients: number
  stageId: string
  projectSlug: string
}) {
  const lineLatencies: number[] = []
  const eventLatencies: number[] = []
  const views: ClientView[] = []
  const streams: ReturnType<typeof follow>[] = []
  const open = async (i: number) => {
    const token = options.tokens[i % options.tokens.length] as string
    const view: ClientView = {
      logStatus: 0,
      eventsStatus: 0,
      lines: 0,
      outOfOrder: 0,
      logEnded: false,
      eventIds: new Set(),
      errors: [],
    }
    views.push(view)
    const logOpenedAt = now()
    let last = 0
    const log = follow(`${options.url}/api/stages/${options.stageId}/logs/live`, token, (event, at) => {
      if (event.event === 'end') view.logEnded = true
      if (event.event !== 'logs') return
      for (const line of JSON.parse(event.data) as Line[]) {
        if (line[0] === last + 1) view.lines++
        else view.outOfOrder++
        last = Math.max(last, line[0])
        if (line[1] >= logOpenedAt) lineLatencies.push(at - line[1])
      }
    })
    const events = follow(`${options.url}/api/projects/${options.projectSlug}/events`, token, (event, at) => {
      if (event.event !== 'run') return
      view.eventIds.add(event.id)
      eventLatencies.push(at - Number(event.id.split('-')[0]))
    })
    streams.push(log, events)
    view.logStatus = await log.opened
    view.eventsStatus = await events.opened
    void log.ended.then(() => view.errors.push(...log.errors))
    void events.ended.then(() => view.errors.push(...events.errors))
  }
  return {
    views,
    lineLatencies,
    eventLatencies,
    /** Opens every client, `batch` at a time; resolves when all answered their headers. */
    async openAll(batch = 50) {
      for (let i = 0; i < options.clients; i += batch)
        await Promise.all(Array.from({ length: Math.min(batch, options.clients - i) }, (_, k) => open(i + k)))
    },
    /** Every client's log stream ended (the stage finished) or failed. */
    logsEnded: () => Promise.all(streams.filter((_, i) => i % 2 === 0).map((s) => s.ended)),
    async close() {
      for (const stream of streams) stream.close()
      await Promise.all(streams.map((s) => s.ended))
    },
  }
}
