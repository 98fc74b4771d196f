import { readFileSync } from 'node:fs'
import net from 'node:net'

/** How long a port handed out by `freePort` is not handed out again. */
const rememberMs = 5 * 60_000
/** Ports handed out lately, oldest first, with when. */
const handedOut = new Map<number, number>()

/**
 * Where `freePort` picks: from 20000 to just below the kernel's ephemeral range (32768 by
 * default), so that no outgoing connection can take the port between the check and the
 * bind, and at random, so that processes picking at the same time rarely pick alike.
 */
const range = ((): { low: number; high: number } => {
  const low = 20_000
  try {
    const [ephemeral] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)
    const high = Number(ephemeral) - 1
    if (Number.isInteger(high) && high - low >= 1000) return { low, high }
  } catch {}
  return { low, high: 32_767 }
})()

/** Listens on 127.0.0.1:`port` (0: any) and closes again; the port, or undefined if taken. */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolve(undefined)
      else reject(error)
    })
    server.listen(port, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(address && typeof address === 'object' ? address.port : undefined))
    })
  })
}

/**
 * A port that is free on 127.0.0.1 right now and was not handed out by this process in the
 * last five minutes, for the listeners tests and benchmarks start on this machine (private
 * HAProxy, PostgreSQL, Redis, the API). Not for instances: Docker chooses a bridge container's
 * port and host-network ports are leased per host in PostgreSQL (@slipway/db). Another
 * process may still take the port before it is bound. The memory matters because the kernel,
 * asked for any free port, readily gives the same one twice in a row.
 */
export async function freePort(): Promise<number> {
  const now = Date.now()
  for (const [port, at] of handedOut) {
    if (now - at < rememberMs) break
    handedOut.delete(port)
  }
  let port: number | undefined
  for (let tries = 0; port === undefined && tries < 50; tries++) {
    const candidate = range.low + Math.floor(Math.random() * (range.high - range.low + 1))
    if (!handedOut.has(candidate)) port = await tryListen(candidate)
  }
  // A crowded range: the kernel chooses (a repeat is then possible; the caller's retry covers it).
  port ??= await tryListen(0)
  if (port === undefined) throw new Error('no free port on 127.0.0.1')
  handedOut.delete(port)
  handedOut.set(port, now)
  return port
}
