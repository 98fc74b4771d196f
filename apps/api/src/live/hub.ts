import type { Logger } from '@slipway/core'
import type { Redis } from 'ioredis'

/** One Redis stream entry: its id and its field/value list. */
export type Entry = [id: string, fields: string[]]

/** A reader of one Redis stream through the hub. */
export interface Subscription {
  /**
   * Entries after the last one returned (or after `from`), waiting up to `waitMs` for some;
   * [] when none came in time or the subscription was closed.
   */
  next(waitMs: number): Promise<Entry[]>
  close(): void
  readonly closed: boolean
}

/** `a` < `b` for Redis stream ids (`ms-seq`). */
function idBefore(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am < bm || (am === bm && as < bs)
}

class Reader implements Subscription {
  private queue: Entry[] = []
  private wake: (() => void) | undefined
  closed = false

  constructor(
    private last: string,
    private readonly onClose: (reader: Reader) => void,
  ) {}

  push(entries: Entry[]): void {
    const tail = this.queue.at(-1)
    let ordered = true
    for (const entry of entries)
      if (idBefore(this.last, entry[0])) {
        if (tail && ordered && !idBefore(tail[0], entry[0])) ordered = false
        this.queue.push(entry)
      }
    // A late reader's catch-up (XRANGE) can arrive after newer entries the hub's loop pushed
    // while it was read: the queue is put back in id order, each entry once.
    if (!ordered)
      this.queue = this.queue
        .sort((a, b) => (idBefore(a[0], b[0]) ? -1 : idBefore(b[0], a[0]) ? 1 : 0))
        .filter((entry, i, all) => i === 0 || all[i - 1]?.[0] !== entry[0])
    if (this.queue.length) this.wake?.()
  }

  async next(waitMs: number): Promise<Entry[]> {
    if (!this.queue.length && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.wake = undefined
    }
    const entries = this.queue.filter((entry) => idBefore(this.last, entry[0]))
    this.queue = []
    const newest = entries.at(-1)
    if (newest) this.last = newest[0]
    return entries
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.wake?.()
    this.onClose(this)
  }
}

interface Watched {
  /** The newest id the hub has read of this stream. */
  position: string
  readers: Set<Reader>
}

/**
 * Every live stream of this API process reads Redis through one connection: one loop runs
 * `XREAD BLOCK` over all the streams someone watches and hands each new entry to that
 * stream's readers. A reader joining late catches up with XRANGE on the shared command
 * connection first, so nothing between its position and the hub's is lost.
 */
export class StreamHub {
  private readonly watched = new Map<string, Watched>()
  private blocking: Redis | undefined
  private loop: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    /** CLIENT SETNAME of the one blocking connection (seen in CLIENT LIST). */
    private readonly connectionName: string,
  ) {}

  /** Reads `key` after `from` (a stream id; '$' = only what comes from now on). */
  async subscribe(key: string, from: string): Promise<Subscription> {
    if (this.stopped) throw new Error('the live stream hub is closed')
    let watched = this.watched.get(key)
    if (!watched) {
      const newest = (await this.redis.xrevrange(key, '+', '-', 'COUNT', 1)) as Entry[]
      // Another subscribe may have started watching while we asked.
      watched = this.watched.get(key) ?? { position: newest[0]?.[0] ?? '0-0', readers: new Set() }
      this.watched.set(key, watched)
    }
    const start = from === '$' ? watched.position : from
    const reader = new Reader(start, (closed) => {
      const current = this.watched.get(key)
      current?.readers.delete(closed)
      if (current && !current.readers.size) this.watched.delete(key)
    })
    watched.readers.add(reader)
    if (idBefore(start, watched.position)) {
      // Catch up to where the hub is; what the hub reads later arrives through push().
      reader.push((await this.redis.xrange(key, `(${start}`, watched.position)) as Entry[])
    }
    this.ensureLoop()
    return reader
  }

  private ensureLoop(): void {
    if (this.loop) return
    this.blocking = this.redis.duplicate({ maxRetriesPerRequest: null, connectionName: this.connectionName })
    this.blocking.on('error', (error) => this.logger.warn({ err: error }, 'live stream hub: redis error'))
    this.loop = this.run().finally(() => {
      this.loop = undefined
      this.blocking?.disconnect()
      this.blocking = undefined
      // Someone may have subscribed while the loop was running out.
      if (!this.stopped && this.watched.size) this.ensureLoop()
    })
  }

  private async run(): Promise<void> {
    const client = this.blocking!
    let failures = 0
    while (!this.stopped && this.watched.size) {
      const keys = [...this.watched.keys()]
      const positions = keys.map((key) => this.watched.get(key)!.position)
      try {
        const result = (await client.xread('COUNT', 500, 'BLOCK', 1000, 'STREAMS', ...keys, ...positions)) as
          | [string, Entry[]][]
          | null
        failures = 0
        for (const [key, entries] of result ?? []) {
          const watched = this.watched.get(key)
          const newest = entries.at(-1)
          if (!watched || !newest) continue
          watched.position = newest[0]
          for (const reader of watched.readers) reader.push(entries)
        }
      } catch (error) {
        if (this.stopped) break
        failures++
        if (failures === 1 || failures % 30 === 0)
          this.logger.warn({ err: error, failures }, 'live stream hub: XREAD failed; retrying')
        await new Promise((resolve) => setTimeout(resolve, Math.min(200 * failures, 2000)))
      }
    }
  }

  /** Ends every subscription and the blocking connection. */
  async close(): Promise<void> {
    this.stopped = true
    for (const watched of [...this.watched.values()])
      for (const reader of [...watched.readers]) reader.close()
    this.blocking?.disconnect()
    await this.loop
  }
}
