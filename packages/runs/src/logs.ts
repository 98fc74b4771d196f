import type { Logger } from '@slipway/core'
import { type Db, type Prisma, whileDatabaseAway } from '@slipway/db'
import type { Redis } from 'ioredis'
import { logStreamKey } from './events.ts'

/** One log line: sequence number (from 1, per stage), time (epoch ms), masked text. */
export type LogLine = [seq: number, at: number, text: string]

/** Replaces every occurrence of a secret value with a mask. Values shorter than 4 are left alone. */
export function masker(secrets: readonly string[]): (text: string) => string {
  const values = [...new Set(secrets.filter((value) => value.length >= 4))].sort(
    (a, b) => b.length - a.length,
  )
  if (!values.length) return (text) => text
  return (text) => {
    let out = text
    for (const value of values) if (out.includes(value)) out = out.split(value).join('••••••')
    return out
  }
}

const streamFlushMs = 40
const dbFlushMs = 400
const retryFlushMs = 2000
const maxLineLength = 16 * 1024

/**
 * The log of one stage attempt. Lines are masked, numbered, published to a Redis stream at
 * once (stream id `0-<seq>`, so a browser resumes by sequence number) and stored in
 * PostgreSQL in chunks. On open, lines a dead worker published but never stored are
 * recovered from the stream first: no line is lost.
 */
export class StageLog {
  private seq: number
  private streamBuffer: LogLine[] = []
  private dbBuffer: LogLine[] = []
  private streamTimer: NodeJS.Timeout | undefined
  private dbTimer: NodeJS.Timeout | undefined
  private flushing: Promise<void> = Promise.resolve()
  private readonly mask: (text: string) => string

  private constructor(
    private readonly db: Db,
    private readonly redis: Redis,
    private readonly key: string,
    private readonly stageId: string,
    private readonly logger: Logger,
    lastSeq: number,
    secrets: readonly string[],
  ) {
    this.seq = lastSeq
    this.mask = masker(secrets)
  }

  static async open(options: {
    db: Db
    redis: Redis
    prefix: string
    stageId: string
    logger: Logger
    secrets: readonly string[]
  }): Promise<StageLog> {
    const { db, redis, prefix, stageId } = options
    const key = logStreamKey(prefix, stageId)
    const stored = await db.stageLogChunk.aggregate({ where: { stageId }, _max: { lastSeq: true } })
    let last = stored._max.lastSeq ?? 0
    // Lines published by an earlier attempt but not stored (its worker died): store them now.
    const orphans = (await redis.xrange(key, `0-${last + 1}`, '+')) as [string, string[]][]
    const recovered = orphans
      .map(([, fields]) => JSON.parse(fields[1] ?? '[]') as LogLine)
      .filter((line) => line[0] > last)
    if (recovered.length) {
      await insertChunk(db, stageId, recovered)
      last = recovered.at(-1)?.[0] ?? last
    }
    return new StageLog(db, redis, key, stageId, options.logger, last, options.secrets)
  }

  get lastSeq(): number {
    return this.seq
  }

  /** Adds one or more lines (text is split on newlines). */
  write(text: string): void {
    const now = Date.now()
    for (const raw of text.split('\n')) {
      const clipped =
        raw.length > maxLineLength ? `${raw.slice(0, maxLineLength)}… [line cut at 16 KiB]` : raw
      const line: LogLine = [++this.seq, now, this.mask(clipped.replace(/\r$/, ''))]
      this.streamBuffer.push(line)
      this.dbBuffer.push(line)
    }
    this.streamTimer ??= setTimeout(() => this.schedule(() => this.flushStream()), streamFlushMs)
    this.dbTimer ??= setTimeout(() => this.schedule(() => this.flushDb()), dbFlushMs)
  }

  /** Stores and publishes everything written so far. */
  async flush(): Promise<void> {
    await this.schedule(this.flushBoth)
  }

  private readonly flushBoth = async (): Promise<void> => {
    await this.flushStream()
    await this.flushDb()
  }

  /**
   * Flushes and lets the live stream expire an hour later (the database keeps the log). While
   * the database does not answer (it restarts), the lines are offered again for up to two
   * minutes; lines it still did not take are reported as an error, never dropped quietly.
   */
  async close(): Promise<void> {
    await whileDatabaseAway(() => this.schedule(this.flushBoth, true)).catch((error) => {
      clearTimeout(this.dbTimer)
      this.logger.error(
        { err: error, stageId: this.stageId, lines: this.dbBuffer.length },
        'log lines could not be stored',
      )
    })
    await this.redis.expire(this.key, 3600).catch(() => undefined)
  }

  /** Runs `fn` after the flushes before it; its error is logged, and thrown when `rethrow`. */
  private schedule(fn: () => Promise<void>, rethrow = false): Promise<void> {
    const run = this.flushing.then(fn)
    this.flushing = run.catch((error) =>
      this.logger.warn({ err: error, stageId: this.stageId }, 'log flush failed'),
    )
    return rethrow ? run : this.flushing
  }

  private async flushStream(): Promise<void> {
    clearTimeout(this.streamTimer)
    this.streamTimer = undefined
    const lines = this.streamBuffer.splice(0)
    if (!lines.length) return
    const pipeline = this.redis.pipeline()
    for (const line of lines) pipeline.xadd(this.key, `0-${line[0]}`, 'l', JSON.stringify(line))
    await pipeline.exec()
  }

  private async flushDb(): Promise<void> {
    clearTimeout(this.dbTimer)
    this.dbTimer = undefined
    const lines = this.dbBuffer.splice(0)
    if (!lines.length) return
    try {
      await insertChunk(this.db, this.stageId, lines)
    } catch (error) {
      // Keep them for the next flush, which comes even if nothing more is written (they are in
      // the live stream meanwhile).
      this.dbBuffer.unshift(...lines)
      this.dbTimer ??= setTimeout(() => this.schedule(() => this.flushDb()), retryFlushMs)
      throw error
    }
  }
}

async function insertChunk(db: Db, stageId: string, lines: LogLine[]): Promise<void> {
  await db.stageLogChunk.create({
    data: {
      stageId,
      firstSeq: lines[0]![0],
      lastSeq: lines.at(-1)![0],
      lines: lines as unknown as Prisma.InputJsonValue,
    },
  })
}
