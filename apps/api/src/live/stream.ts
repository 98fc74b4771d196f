import { once } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** An open Server-Sent Events response. */
export interface EventStream {
  raw: ServerResponse
  /** Aborted when the client goes away. */
  closed: AbortSignal
  /** Writes one event; waits for the socket to drain first when the client lags (bounded buffer). */
  send(event: string, id: string | number, data: unknown): Promise<void>
  comment(text: string): void
}

/** Opens a Server-Sent Events response that the proxy in front must not buffer. */
export function openEventStream(request: FastifyRequest, reply: FastifyReply): EventStream {
  reply.hijack()
  const raw = reply.raw
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  raw.write('retry: 2000\n\n')
  const controller = new AbortController()
  request.raw.on('close', () => controller.abort())
  const closed = controller.signal
  return {
    raw,
    closed,
    async send(event, id, data) {
      if (closed.aborted) return
      const ok = raw.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      if (!ok && !closed.aborted) {
        // Aborted while waiting = the client left: nothing more to write.
        await once(raw, 'drain', { signal: closed }).catch((error: unknown) => {
          if (!closed.aborted) throw error
        })
      }
    },
    comment(text) {
      if (!closed.aborted) raw.write(`: ${text}\n\n`)
    },
  }
}
