import net from 'node:net'

/** How long a port handed out by `freePort` is not handed out again. */
const rememberMs = 5 * 60_000
/** Ports handed out lately, oldest first, with when. */
const handedOut = new Map<number, number>()

function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error('could not read the bound port'))
      })
    })
  })
}

/**
 * A port that is free on 127.0.0.1 right now and was not handed out in the last five
 * minutes. Another process may take it before Docker binds it, so callers retry on "port
 * is already allocated". The memory matters on the host network: there Docker does not
 * bind the port, the app does once it has started, and the kernel readily gives the same
 * free port twice in a row (300 picks repeated 6 ports without it).
 */
export async function freePort(): Promise<number> {
  const now = Date.now()
  for (const [port, at] of handedOut) {
    if (now - at < rememberMs) break
    handedOut.delete(port)
  }
  for (let tries = 1; ; tries++) {
    const port = await unusedPort()
    // After 20 tries a repeat is better than no port (the caller's retry covers a clash).
    if (!handedOut.has(port) || tries >= 20) {
      handedOut.delete(port)
      handedOut.set(port, now)
      return port
    }
  }
}

export function isPortConflict(message: string): boolean {
  return /port is already allocated|address already in use|bind: /i.test(message)
}
