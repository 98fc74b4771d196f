import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { connectionModes, failures, startLoad } from './load.ts'

/** A local HTTP server that counts the connections its clients open. */
async function countingServer(): Promise<{
  port: number
  connections: () => number
  close(): Promise<void>
}> {
  let connections = 0
  const server = http.createServer((_request, response) => response.end('ok\n'))
  server.on('connection', () => {
    connections++
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

describe('the load generator', () => {
  const servers: { close(): Promise<void> }[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()))
  })

  it('keeps a pool of connections alive by default and opens one per request with close', async () => {
    const opened: Record<string, number> = {}
    for (const mode of connectionModes) {
      const server = await countingServer()
      servers.push(server)
      const samples = await startLoad({
        port: server.port,
        concurrency: 8,
        maxRequests: 400,
        maxMs: 30_000,
        ...(mode === 'close' ? { connections: mode } : {}),
      }).finished()
      expect(samples).toHaveLength(400)
      expect(failures(samples)).toEqual([])
      opened[mode] = server.connections()
    }
    expect(opened['keep-alive']).toBeLessThanOrEqual(8)
    expect(opened.close).toBe(400)
  })

  it('counts a request whose kept-alive connection the server closes as failed', async () => {
    // A server that resets every kept-alive connection after its second request, as a proxy
    // that closes idle client connections on reload does to a request already on its way.
    let served = 0
    const server = http.createServer((request, response) => {
      served++
      if (served % 2 === 0) request.socket.destroy()
      else response.end('ok\n')
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    servers.push({
      close: async () => {
        server.closeAllConnections()
        server.close()
        await once(server, 'close')
      },
    })
    const samples = await startLoad({
      port: (server.address() as AddressInfo).port,
      concurrency: 8,
      maxRequests: 100,
      maxMs: 30_000,
    }).finished()
    expect(samples).toHaveLength(100)
    expect(failures(samples).length).toBeGreaterThan(0)
    expect(failures(samples).every((sample) => sample.status === 0)).toBe(true)
  })
})
