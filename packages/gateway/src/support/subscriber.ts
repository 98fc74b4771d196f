import type { Logger } from '@slipway/core'
import type { Redis } from 'ioredis'

type Handler = (message: string) => void

/**
 * One pub/sub connection (a duplicate of the given client) shared by every watcher of one
 * owner. ioredis re-subscribes after a reconnect; messages lost meanwhile are covered by
 * the watchers' periodic resync.
 */
export class Subscriber {
  readonly #source: Redis
  readonly #logger: Logger | undefined
  #connection: Redis | undefined
  readonly #handlers = new Map<string, Set<Handler>>()

  constructor(source: Redis, logger?: Logger) {
    this.#source = source
    this.#logger = logger
  }

  async on(channel: string, handler: Handler): Promise<() => Promise<void>> {
    const connection = this.#connect()
    let handlers = this.#handlers.get(channel)
    if (!handlers) {
      handlers = new Set()
      this.#handlers.set(channel, handlers)
      await connection.subscribe(channel)
    }
    handlers.add(handler)
    return async () => {
      const current = this.#handlers.get(channel)
      if (!current?.delete(handler) || current.size > 0) return
      this.#handlers.delete(channel)
      await connection
        .unsubscribe(channel)
        .catch((error: unknown) => this.#logger?.warn({ err: error, channel }, 'redis unsubscribe failed'))
    }
  }

  close(): void {
    this.#handlers.clear()
    this.#connection?.disconnect()
    this.#connection = undefined
  }

  #connect(): Redis {
    if (this.#connection) return this.#connection
    const connection = this.#source.duplicate()
    connection.on('error', (error: Error) => this.#logger?.warn({ err: error }, 'redis subscriber error'))
    connection.on('message', (channel: string, message: string) => {
      for (const handler of this.#handlers.get(channel) ?? []) handler(message)
    })
    this.#connection = connection
    return connection
  }
}
