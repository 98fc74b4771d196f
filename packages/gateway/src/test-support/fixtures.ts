import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { freePort, integrationTest } from '@slipway/testing'
import { HaproxyProcess } from '../haproxy/process.ts'
import { sleep } from '../support/bounded.ts'

export interface GatewayFixtures {
  /** A private HAProxy on a free 127.0.0.1 port in its own folder, stopped and removed after. */
  haproxy: HaproxyProcess
}

export const gatewayTest = integrationTest.extend<GatewayFixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take their dependencies by destructuring
  haproxy: async ({}, use) => {
    // Short: the folder holds unix sockets.
    const dir = await mkdtemp(path.join(tmpdir(), 'sgw-'))
    const haproxy = await HaproxyProcess.start({ dir, port: await freePort() })
    try {
      await use(haproxy)
    } finally {
      await haproxy.stop()
      await rm(dir, { recursive: true, force: true })
    }
  },
})

export interface Reply {
  status: number
  body: string
  headers: http.IncomingHttpHeaders
}

/** One GET on a fresh connection; network failures are returned as status 0. */
export function get(port: number, pathname = '/'): Promise<Reply> {
  return new Promise((resolve) => {
    const request = http.get(
      {
        host: '127.0.0.1',
        port,
        path: pathname,
        agent: false,
        headers: { connection: 'close' },
        timeout: 10_000,
      },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
        })
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body, headers: response.headers }),
        )
        response.on('error', (error) => resolve({ status: 0, body: error.message, headers: {} }))
      },
    )
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', (error) => resolve({ status: 0, body: error.message, headers: {} }))
  })
}

/** An HTTP upstream in the test process. */
export interface Upstream {
  name: string
  port: number
  /** Wall-clock arrival time (ms since epoch) of every request it received. */
  arrivals: number[]
  close(): Promise<void>
}

const now = () => performance.timeOrigin + performance.now()

/**
 * A plain HTTP server on 127.0.0.1 answering `name\n`; `/slow?ms=N` answers `slow name\n`
 * after N ms (at most 30 s).
 */
export async function upstream(name: string): Promise<Upstream> {
  const arrivals: number[] = []
  const server = http.createServer((request, response) => {
    arrivals.push(now())
    const url = new URL(request.url ?? '/', 'http://upstream')
    const answer = () => {
      response.setHeader('content-type', 'text/plain')
      response.end(url.pathname === '/slow' ? `slow ${name}\n` : `${name}\n`)
    }
    if (url.pathname === '/slow')
      setTimeout(answer, Math.min(Number(url.searchParams.get('ms')) || 0, 30_000))
    else answer()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address !== 'object') throw new Error('no address')
  return {
    name,
    port: address.port,
    arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(50)
  }
}
