import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { freePort } from './ports.ts'

describe('freePort', () => {
  it('hands out free ports, never the same one twice in a row of 300', async () => {
    const ports: number[] = []
    for (let i = 0; i < 300; i++) ports.push(await freePort())
    expect(new Set(ports).size).toBe(ports.length)
    for (const port of ports) expect(port).toBeGreaterThan(0)
  })

  it('gives a port nothing listens on', async () => {
    const port = await freePort()
    const server = net.createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', resolve)
    })
    await new Promise((resolve) => server.close(resolve))
  })
})
