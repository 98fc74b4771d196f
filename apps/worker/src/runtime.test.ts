import { setTimeout as sleep } from 'node:timers/promises'
import { AppError, createLogger } from '@slipway/core'
import { integrationTest as test } from '@slipway/testing'
import { Queue } from 'bullmq'
import { describe, expect } from 'vitest'
import { type Processors, startQueueWorker } from './runtime.ts'

const logger = createLogger({ name: 'worker-test', level: 'silent' })

/** Waits until the job is in `state`, then loads it (so the loaded data reflects that state). */
async function jobIn(queue: Queue, id: string, state: string) {
  return waitFor(async () => ((await queue.getJobState(id)) === state ? queue.getJob(id) : undefined))
}

async function waitFor<T>(fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await fn()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(25)
  }
}

function workerWith(redis: import('ioredis').Redis, prefix: string, processors: Processors, id = 'w1') {
  return startQueueWorker({
    queue: 'maintenance',
    connection: redis,
    prefix,
    processors,
    concurrency: 1,
    logger,
    workerId: id,
  })
}

describe('queue worker runtime', () => {
  test('a job running at shutdown finishes within the grace period', async ({ redis, redisPrefix }) => {
    const queue = new Queue('maintenance', { connection: redis, prefix: redisPrefix })
    let started = false
    const runtime = workerWith(redis, redisPrefix, {
      'hosts.probe': async (_payload, { signal }) => {
        started = true
        await sleep(400, undefined, { signal })
        return 'finished'
      },
    })
    const job = await queue.add('hosts.probe', {})
    await waitFor(async () => (started ? true : undefined))
    await runtime.close(5000)
    const after = await queue.getJob(job.id!)
    expect(await after?.getState()).toBe('completed')
    expect(after?.returnvalue).toBe('finished')
    await queue.close()
  })

  test('a job still running when the grace period ends is released, and another worker finishes it', async ({
    redis,
    redisPrefix,
  }) => {
    const queue = new Queue('maintenance', { connection: redis, prefix: redisPrefix })
    let started = false
    const first = workerWith(redis, redisPrefix, {
      'hosts.probe': async (_payload, { signal }) => {
        started = true
        await sleep(60_000, undefined, { signal })
        return 'first'
      },
    })
    const job = await queue.add('hosts.probe', {}, { attempts: 1 })
    await waitFor(async () => (started ? true : undefined))
    await first.close(200)
    const released = await queue.getJob(job.id!)
    expect(['delayed', 'waiting']).toContain(await released?.getState())
    expect(released?.attemptsMade).toBe(0)

    const second = workerWith(redis, redisPrefix, { 'hosts.probe': async () => 'second' }, 'w2')
    const done = await jobIn(queue, job.id!, 'completed')
    expect(done?.returnvalue).toBe('second')
    await second.close(1000)
    await queue.close()
  })

  test('an invalid payload fails at once without retries', async ({ redis, redisPrefix }) => {
    const queue = new Queue('maintenance', { connection: redis, prefix: redisPrefix })
    const runtime = workerWith(redis, redisPrefix, { 'hosts.probe': async () => 'ran' })
    const job = await queue.add('hosts.probe', { unexpected: true }, { attempts: 5 })
    const failed = await jobIn(queue, job.id!, 'failed')
    expect(failed?.failedReason).toMatch(/invalid payload for hosts.probe/)
    expect(failed?.attemptsMade).toBe(1)
    await runtime.close(1000)
    await queue.close()
  })

  test('a code the error table does not retry fails the job at once', async ({ redis, redisPrefix }) => {
    const queue = new Queue('maintenance', { connection: redis, prefix: redisPrefix })
    let tries = 0
    const runtime = workerWith(redis, redisPrefix, {
      'hosts.probe': async () => {
        tries++
        throw new AppError('PRECONDITION_FAILED', 'the build agent group has no host')
      },
    })
    const job = await queue.add('hosts.probe', {}, { attempts: 5 })
    const failed = await jobIn(queue, job.id!, 'failed')
    expect(failed?.failedReason).toBe('the build agent group has no host')
    expect(failed?.attemptsMade).toBe(1)
    expect(tries).toBe(1)
    await runtime.close(1000)
    await queue.close()
  })

  test('a code the error table retries is tried again', async ({ redis, redisPrefix }) => {
    const queue = new Queue('maintenance', { connection: redis, prefix: redisPrefix })
    let tries = 0
    const runtime = workerWith(redis, redisPrefix, {
      'hosts.probe': async () => {
        tries++
        if (tries < 3) throw new AppError('HOST_UNREACHABLE', 'pre-1 did not answer')
        return 'answered'
      },
    })
    const job = await queue.add('hosts.probe', {}, { attempts: 5 })
    const done = await jobIn(queue, job.id!, 'completed')
    expect(done?.returnvalue).toBe('answered')
    expect(tries).toBe(3)
    await runtime.close(1000)
    await queue.close()
  })
})
