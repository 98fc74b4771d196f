import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { freePort, integrationTest } from '@slipway/testing'
import { NginxProcess } from '../nginx/process.ts'
import { sleep } from '../support/bounded.ts'

export interface GatewayFixtures {
  /** A private nginx master on a free 127.0.0.1 port, stopped and removed after the test. */
  nginx: NginxProcess
}

export const gatewayTest = integrationTest.extend<GatewayFixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take their dependencies by destructuring
  nginx: async ({}, use) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'slipway-gw-'))
    const nginx = await NginxProcess.start({ dir, port: await freePort() })
    try {
      await use(nginx)
    } finally {
      await nginx.stop()
      await rm(dir, { recursive: true, force: true })
    }
  },
})

export interface Reply {
  status: number
  body: string
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
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
        response.on('error', (error) => resolve({ status: 0, body: error.message }))
      },
    )
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', (error) => resolve({ status: 0, body: error.message }))
  })
}

/** A plain HTTP server on 127.0.0.1 answering `name` (an upstream for applier tests). */
export async function namedServer(name: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((_request, response) => {
    response.setHeader('content-type', 'text/plain')
    response.end(`${name}\n`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address !== 'object') throw new Error('no address')
  return {
    port: address.port,
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
