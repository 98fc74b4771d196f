import { type JobName, type JobPayload, jobCatalog } from '@slipway/contracts'
import { errorMessage, type Logger } from '@slipway/core'
import type { Db, Prisma } from '@slipway/db'
import type { Queues } from './queues.ts'

/**
 * Records a job to enqueue, inside the caller's transaction (the outbox pattern). The payload
 * is typed by the job catalog: a wrong payload for `name` does not compile (typed.test.ts).
 */
export async function enqueueInTx<N extends JobName>(
  tx: Prisma.TransactionClient,
  name: N,
  payload: JobPayload<N>,
  options: { delayMs?: number } = {},
): Promise<void> {
  await tx.outboxJob.create({
    data: {
      name,
      // Every catalog payload is a JSON object (the catalog's zod objects, checked at pickup).
      payload: payload as Prisma.InputJsonObject,
      availableAt: new Date(Date.now() + (options.delayMs ?? 0)),
    },
  })
}

interface OutboxRow {
  id: bigint
  name: string
  payload: Prisma.JsonValue
  attempts: number
}

/**
 * Moves pending outbox rows to BullMQ. Rows are locked (SKIP LOCKED, so several dispatchers
 * in several processes never double-send) and the BullMQ job id is derived from the row id,
 * so a row moved twice after a crash still makes one job. Returns how many were moved.
 */
export async function dispatchOutbox(db: Db, queues: Queues, logger: Logger, batch = 20): Promise<number> {
  // Small batches keep each transaction short (it holds row locks while Redis answers).
  return db.$transaction(
    async (tx) => {
      const rows = await tx.$queryRaw<OutboxRow[]>`
      SELECT id, name, payload, attempts FROM "OutboxJob"
      WHERE "dispatchedAt" IS NULL AND "availableAt" <= now()
      ORDER BY id LIMIT ${batch} FOR UPDATE SKIP LOCKED`
      let moved = 0
      for (const row of rows) {
        const name = row.name as JobName
        try {
          if (!jobCatalog[name]) throw new Error(`unknown job ${row.name}`)
          await queues.add(name, row.payload as never, { jobId: `outbox-${row.id}` })
          await tx.outboxJob.update({ where: { id: row.id }, data: { dispatchedAt: new Date() } })
          moved++
        } catch (error) {
          const delayMs = Math.min(60_000, 500 * 2 ** row.attempts)
          logger.warn({ outboxId: String(row.id), job: row.name, err: error }, 'outbox dispatch failed')
          await tx.outboxJob.update({
            where: { id: row.id },
            data: {
              attempts: { increment: 1 },
              lastError: errorMessage(error),
              availableAt: new Date(Date.now() + delayMs),
            },
          })
        }
      }
      return moved
    },
    { maxWait: 10_000, timeout: 30_000 },
  )
}

/**
 * Dispatches pending outbox rows on a timer and on demand (`kick()` right after a commit
 * that wrote one). Safe to run in every process.
 */
export class OutboxDispatcher {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again = false

  constructor(
    private readonly db: Db,
    private readonly queues: Queues,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.kick(), this.intervalMs)
    this.timer.unref()
  }

  /** Dispatches now; concurrent calls coalesce into one more pass. */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true
      return this.running
    }
    this.running = (async () => {
      try {
        do {
          this.again = false
          while ((await dispatchOutbox(this.db, this.queues, this.logger)) > 0) {}
        } while (this.again)
      } catch (error) {
        this.logger.warn({ err: error }, 'outbox dispatcher pass failed')
      } finally {
        this.running = undefined
      }
    })()
    return this.running
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }
}
