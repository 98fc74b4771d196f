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

/** How much of its output one attempt of a stage keeps. */
export interface LogLimits {
  /** Lines kept; the rest are dropped behind one "truncated" line. */
  lines: number
  /** Bytes of (masked, UTF-8) text kept. */
  bytes: number
}

/** 50,000 lines or 10 MiB per attempt, whichever comes first. */
export const defaultLogLimits: LogLimits = { lines: 50_000, bytes: 10 * 1024 * 1024 }

/**
 * Decides, line by line, what an attempt's log keeps: lines while both limits hold, then one
 * line saying the log was truncated, then nothing. Pure, for the writer and its tests.
 */
export class LogBudget {
  private lines = 0
  private bytes = 0
  private cut = false

  constructor(private readonly limits: LogLimits) {}

  /** The text to keep for `text` (itself, the truncation notice, or undefined: dropped). */
  admit(text: string): string | undefined {
    if (this.cut) return undefined
    const size = Buffer.byteLength(text, 'utf8')
    if (this.lines + 1 <= this.limits.lines && this.bytes + size <= this.limits.bytes) {
      this.lines += 1
      this.bytes += size
      return text
    }
    this.cut = true
    return `… log truncated: this attempt printed more than ${this.limits.lines.toLocaleString('en')} lines or ${formatBytes(this.limits.bytes)}; later output is not kept (the stage goes on)`
  }

  get truncated(): boolean {
    return this.cut
  }
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`
  return `${bytes} bytes`
}

/**
 * The log of one stage attempt. Lines are masked, numbered, published to a Redis stream at
 * once (stream id `0-<seq>`, so a browser resumes by sequence number) and stored in
 * PostgreSQL in chunks. On open, lines a dead worker published but never stored are
 * recovered from the stream first: no line is lost. An attempt keeps at most `limits`
 * (default 50,000 lines / 10 MiB): past them one "log truncated" line is kept and the rest
 * dropped, and the Redis stream is trimmed (XADD MAXLEN ~) to about that many lines, so a
 * build printing without end cannot fill Redis or the database.
 */
export class StageLog {
  private seq: number
  private streamBuffer: LogLine[] = []
  private dbBuffer: LogLine[] = []
  private streamTimer: NodeJS.Timeout | undefined
  private dbTimer: NodeJS.Timeout | undefined
  private flushing: Promise<void> = Promise.resolve()
  /** Replaces the stage's secret values in `text` (for anything stored beside the log, e.g. its error). */
  readonly mask: (text: string) => string
  private readonly budget: LogBudget
  private readonly streamMaxLen: number

  private constructor(
    private readonly db: Db,
    private readonly redis: Redis,
    private readonly key: string,
    private readonly stageId: string,
    private readonly logger: Logger,
    lastSeq: number,
    secrets: readonly string[],
    limits: LogLimits,
  ) {
    this.seq = lastSeq
    this.mask = masker(secrets)
    this.budget = new LogBudget(limits)
    this.streamMaxLen = limits.lines + 1
  }

  static async open(options: {
    db: Db
    redis: Redis
    prefix: string
    stageId: string
    logger: Logger
    secrets: readonly string[]
    limits?: LogLimits
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
    return new StageLog(
      db,
      redis,
      key,
      stageId,
      options.logger,
      last,
      options.secrets,
      options.limits ?? defaultLogLimits,
    )
  }

  get lastSeq(): number {
    return this.seq
  }

  /** Whether this attempt's output went past its limits (later lines are dropped). */
  get truncated(): boolean {
    return this.budget.truncated
  }

  /** Adds one or more lines (text is split on newlines); past the limits, lines are dropped. */
  write(text: string): void {
    if (this.budget.truncated) return
    const now = Date.now()
    for (const raw of text.split('\n')) {
      const clipped =
        raw.length > maxLineLength ? `${raw.slice(0, maxLineLength)}… [line cut at 16 KiB]` : raw
      const kept = this.budget.admit(this.mask(clipped.replace(/\r$/, '')))
      if (kept === undefined) break
      const line: LogLine = [++this.seq, now, kept]
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
    await this.redis
      .expire(this.key, 3600)
      .catch((error) =>
        this.logger.warn({ err: error, stageId: this.stageId }, 'the live log stream keeps no expiry'),
      )
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
    for (const line of lines)
      pipeline.xadd(this.key, 'MAXLEN', '~', this.streamMaxLen, `0-${line[0]}`, 'l', JSON.stringify(line))
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
