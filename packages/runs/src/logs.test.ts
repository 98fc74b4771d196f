import { createLogger } from '@slipway/core'
import { integrationTest } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { logStreamKey } from './events.ts'
import { masker, StageLog } from './logs.ts'

const logger = createLogger({ name: 'logs-test', level: 'silent' })

/** A stage row to hang log chunks on. */
const test = integrationTest.extend<{ stageId: string }>({
  stageId: async ({ db }, use) => {
    const project = await db.project.create({
      data: { slug: 'logs', name: 'Logs', gitUrl: 'file:///x.git', imageRepository: 'x/y', appSpec: {} },
    })
    const pipeline = await db.pipeline.create({
      data: {
        projectId: project.id,
        number: 1,
        ref: 'main',
        commitSha: 'a'.repeat(40),
        trigger: 'manual',
        stages: { create: [{ position: 0, kind: 'build' }] },
      },
      include: { stages: true },
    })
    await use(pipeline.stages[0]!.id)
  },
})

describe('stage logs', () => {
  test('numbers, masks, streams and stores every line', async ({ db, redis, redisPrefix, stageId }) => {
    const log = await StageLog.open({
      db,
      redis,
      prefix: redisPrefix,
      stageId,
      logger,
      secrets: ['hunter2-password', 'abc'],
    })
    log.write('login with hunter2-password\nsecond line')
    for (let i = 0; i < 2500; i++) log.write(`line ${i}`)
    await log.close()
    const chunks = await db.stageLogChunk.findMany({ where: { stageId }, orderBy: { firstSeq: 'asc' } })
    const lines = chunks.flatMap((chunk) => chunk.lines as [number, number, string][])
    expect(lines).toHaveLength(2502)
    expect(lines.map((line) => line[0])).toEqual(lines.map((_, i) => i + 1))
    expect(lines[0]?.[2]).toBe('login with ••••••')
    expect(JSON.stringify(lines)).not.toContain('hunter2')
    const streamed = await redis.xrange(logStreamKey(redisPrefix, stageId), '-', '+')
    expect(streamed).toHaveLength(2502)
    expect(streamed[0]?.[0]).toBe('0-1')
    expect(await redis.ttl(logStreamKey(redisPrefix, stageId))).toBeGreaterThan(0)
  })

  test('lines a dead worker streamed but never stored are recovered by the next attempt', async ({
    db,
    redis,
    redisPrefix,
    stageId,
  }) => {
    const key = logStreamKey(redisPrefix, stageId)
    const first = await StageLog.open({ db, redis, prefix: redisPrefix, stageId, logger, secrets: [] })
    first.write('stored 1\nstored 2')
    await first.flush()
    // The worker dies after streaming lines 3 and 4 but before storing them.
    await redis.xadd(key, '0-3', 'l', JSON.stringify([3, Date.now(), 'only streamed 3']))
    await redis.xadd(key, '0-4', 'l', JSON.stringify([4, Date.now(), 'only streamed 4']))
    const second = await StageLog.open({ db, redis, prefix: redisPrefix, stageId, logger, secrets: [] })
    expect(second.lastSeq).toBe(4)
    second.write('attempt 2')
    await second.close()
    const lines = (
      await db.stageLogChunk.findMany({ where: { stageId }, orderBy: { firstSeq: 'asc' } })
    ).flatMap((chunk) => chunk.lines as [number, number, string][])
    expect(lines.map((line) => [line[0], line[2]])).toEqual([
      [1, 'stored 1'],
      [2, 'stored 2'],
      [3, 'only streamed 3'],
      [4, 'only streamed 4'],
      [5, 'attempt 2'],
    ])
  })
})

describe('masker', () => {
  test('masks longer secrets first and ignores very short ones', () => {
    const mask = masker(['secret', 'secret-longer', 'ab'])
    expect(mask('x secret-longer y secret z ab')).toBe('x •••••• y •••••• z ab')
  })
})
