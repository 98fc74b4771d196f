import http from 'node:http'
import { now } from './measure.ts'

export interface Answer {
  status: number
  body: string
  /** Failure of the exchange itself (status 0): refused, reset, timed out. */
  error?: string
  /** Epoch ms when the request was handed to Node, and when its answer ended. */
  sentAt: number
  end: number
}

/**
 * One HTTP exchange with node:http: on `agent` (a pool of kept-alive connections), or on a
 * connection of its own that closes after the answer (`agent` false).
 */
export function exchange(
  url: string,
  options: {
    method?: string
    headers?: Record<string, string>
    body?: string
    agent: http.Agent | false
    timeoutMs: number
  },
): Promise<Answer> {
  return new Promise((resolve) => {
    const sentAt = now()
    const fail = (error: Error) => resolve({ status: 0, body: '', error: error.message, sentAt, end: now() })
    const request = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent: options.agent,
        headers: {
          ...(options.agent === false ? { connection: 'close' } : {}),
          ...(options.body === undefined
            ? {}
            : { 'content-length': String(Buffer.byteLength(options.body)) }),
          ...options.headers,
        },
        timeout: options.timeoutMs,
      },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
        })
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, sentAt, end: now() }))
        response.on('error', fail)
      },
    )
    request.on('timeout', () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)))
    request.on('error', fail)
    request.end(options.body)
  })
}

/** A pool of kept-alive connections, as a pooled service client (GitLab's sender) keeps. */
export function keptAlive(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, scheduling: 'fifo' })
}
