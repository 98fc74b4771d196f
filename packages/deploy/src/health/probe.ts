import http from 'node:http'
import net from 'node:net'

/** The outcome of one probe. */
export type ProbeOutcome =
  | { ok: true; status?: number }
  /** The application answered, with a status that is not 2xx/3xx. */
  | { ok: false; kind: 'status'; status: number }
  /** Nothing answered: refused, reset, timed out, or another socket error. */
  | { ok: false; kind: 'refused' | 'reset' | 'timeout' | 'error'; message: string }

function socketFailure(error: unknown, timedOut: boolean): ProbeOutcome {
  if (timedOut) return { ok: false, kind: 'timeout', message: 'timed out' }
  const code = (error as NodeJS.ErrnoException)?.code
  if (code === 'ECONNREFUSED') return { ok: false, kind: 'refused', message: 'connection refused' }
  if (code === 'ECONNRESET' || code === 'EPIPE')
    return { ok: false, kind: 'reset', message: 'connection reset' }
  return { ok: false, kind: 'error', message: (error as Error)?.message ?? String(error) }
}

/**
 * GET http://<address>:<port><path>, the instance where its host publishes it: 2xx and 3xx
 * are healthy (redirects are not followed).
 */
export function probeHttp(
  address: string,
  port: number,
  path: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let timedOut = false
    const request = http.get(
      {
        host: address,
        port,
        path,
        agent: false,
        headers: { connection: 'close', 'user-agent': 'slipway-health' },
        signal,
      },
      (response) => {
        response.resume()
        clearTimeout(timer)
        const status = response.statusCode ?? 0
        resolve(status >= 200 && status < 400 ? { ok: true, status } : { ok: false, kind: 'status', status })
      },
    )
    const timer = setTimeout(() => {
      timedOut = true
      request.destroy()
    }, timeoutMs)
    request.once('error', (error) => {
      clearTimeout(timer)
      resolve(socketFailure(error, timedOut))
    })
  })
}

/**
 * How long a TCP connection must stay open to count. Docker's userland proxy accepts every
 * connection to a published port and closes it at once when nothing listens behind it.
 */
const tcpSettleMs = 150

/** Opens a TCP connection to <address>:<port>: healthy when it connects and stays open. */
export function probeTcp(
  address: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let timedOut = false
    let settled = false
    const finish = (outcome: ProbeOutcome) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(outcome)
    }
    const socket = net.connect({ host: address, port, signal })
    const timer = setTimeout(() => {
      timedOut = true
      finish(socketFailure(undefined, true))
    }, timeoutMs)
    socket.once('connect', () => {
      setTimeout(() => finish({ ok: true }), Math.min(tcpSettleMs, timeoutMs))
    })
    socket.once('error', (error) => finish(socketFailure(error, timedOut)))
    socket.once('close', () =>
      finish({ ok: false, kind: 'reset', message: 'connection closed at once (nothing listening)' }),
    )
  })
}
