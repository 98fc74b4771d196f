import net from 'node:net'

/**
 * A port that is free on 127.0.0.1 right now. Another process may take it before Docker
 * binds it, so callers retry on "port is already allocated".
 */
export function freePort(): Promise<number> {
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

export function isPortConflict(message: string): boolean {
  return /port is already allocated|address already in use|bind: /i.test(message)
}
