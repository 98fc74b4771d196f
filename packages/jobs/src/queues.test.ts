import { createLogger } from '@slipway/core'
import { integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { Queues } from './queues.ts'

const logger = createLogger({ name: 'queues-test', level: 'silent' })

describe('Queues.every', () => {
  test('schedules a periodic job on its catalog queue, once per name', async ({ redis, redisPrefix }) => {
    const queues = new Queues(redis, redisPrefix, logger)
    await queues.every('stages.reap', 60_000, {})
    await queues.every('stages.reap', 30_000, {})
    const schedulers = await queues.get('maintenance').getJobSchedulers()
    expect(schedulers).toHaveLength(1)
    expect(schedulers[0]).toMatchObject({ key: 'stages.reap', name: 'stages.reap', every: 30_000 })
    expect(await queues.get('stages').getJobSchedulers()).toEqual([])
    await queues.close()
  })
})
