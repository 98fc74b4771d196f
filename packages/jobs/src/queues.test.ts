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

describe('Queues.add', () => {
  test("a build agent group's stage goes to that group's queue; any other job to its catalog queue", async ({
    redis,
    redisPrefix,
  }) => {
    const queues = new Queues(redis, redisPrefix, logger)
    const stageId = '0b7c6f2e-9d8a-4c3b-8e1f-2a3b4c5d6e7f'
    await queues.add('stage.run', { stageId, attempt: 1, group: 'gpu' })
    await queues.add('stage.run', { stageId, attempt: 2 })
    const waiting = async (name: string) =>
      (await queues.get(name).getJobs(['waiting'])).map((job) => job.data)
    expect(await waiting('stages.build.gpu')).toEqual([{ stageId, attempt: 1, group: 'gpu' }])
    expect(await waiting('stages')).toEqual([{ stageId, attempt: 2 }])
    expect(await waiting('stages.build.default')).toEqual([])
    await queues.close()
  })
})
