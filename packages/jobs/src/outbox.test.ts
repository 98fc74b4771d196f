import { randomUUID } from 'node:crypto'
import { createLogger } from '@slipway/core'
import { integrationTest as test } from '@slipway/testing'
import { Redis } from 'ioredis'
import { describe, expect } from 'vitest'
import { dispatchOutbox, enqueueInTx, OutboxDispatcher } from './outbox.ts'
import { Queues } from './queues.ts'

const logger = createLogger({ name: 'outbox-test', level: 'silent' })

describe('outbox', () => {
  test('moves each pending row to BullMQ exactly once, even with two dispatchers', async ({
    db,
    redis,
    redisPrefix,
  }) => {
    const ids = Array.from({ length: 30 }, () => randomUUID())
    await db.$transaction(async (tx) => {
      for (const pipelineId of ids) await enqueueInTx(tx, 'pipeline.advance', { pipelineId })
    })
    const queues = new Queues(redis, redisPrefix, logger)
    const a = new OutboxDispatcher(db, queues, logger)
    const b = new OutboxDispatcher(db, queues, logger)
    await Promise.all([a.kick(), b.kick(), a.kick()])
    const jobs = await queues.get('pipelines').getJobs(['waiting', 'delayed', 'prioritized'])
    expect(jobs).toHaveLength(30)
    expect(new Set(jobs.map((job) => job.data.pipelineId))).toEqual(new Set(ids))
    expect(jobs.every((job) => job.id?.startsWith('outbox-') && job.opts.attempts === 10)).toBe(true)
    expect(await db.outboxJob.count({ where: { dispatchedAt: null } })).toBe(0)
    expect(await dispatchOutbox(db, queues, logger)).toBe(0)
    await queues.close()
  })

  test('keeps a row when Redis cannot take it, and delivers it later', async ({ db, redis, redisPrefix }) => {
    const pipelineId = randomUUID()
    await db.$transaction((tx) => enqueueInTx(tx, 'pipeline.advance', { pipelineId }))
    const dead = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      enableOfflineQueue: false,
    })
    dead.on('error', () => undefined)
    expect(await dispatchOutbox(db, new Queues(dead, redisPrefix, logger), logger)).toBe(0)
    dead.disconnect()
    const row = await db.outboxJob.findFirstOrThrow()
    expect(row.dispatchedAt).toBeNull()
    expect(row.attempts).toBe(1)
    expect(row.lastError).toBeTruthy()

    await db.outboxJob.update({ where: { id: row.id }, data: { availableAt: new Date() } })
    const queues = new Queues(redis, redisPrefix, logger)
    expect(await dispatchOutbox(db, queues, logger)).toBe(1)
    const job = await queues.get('pipelines').getJob(`outbox-${row.id}`)
    expect(job?.data).toEqual({ pipelineId })
    await queues.close()
  })
})
