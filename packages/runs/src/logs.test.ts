import { createLogger } from '@slipway/core'
import { integrationTest } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { logStreamKey } from './events.ts'
import { LogBudget, masker, StageLog } from './logs.ts'

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

describe('log limits', () => {
  test('an attempt printing far past its limit keeps the limit, one truncation line, a bounded stream', async ({
    db,
    redis,
    redisPrefix,
    stageId,
  }) => {
    const limits = { lines: 300, bytes: 1024 * 1024 }
    const key = logStreamKey(redisPrefix, stageId)
    for (let attempt = 1; attempt <= 3; attempt++) {
      const log = await StageLog.open({
        db,
        redis,
        prefix: redisPrefix,
        stageId,
        logger,
        secrets: [],
        limits,
      })
      for (let i = 0; i < 20_000; i++) log.write(`attempt ${attempt} line ${i}`)
      expect(log.truncated).toBe(true)
      await log.close()
    }
    const lines = (
      await db.stageLogChunk.findMany({ where: { stageId }, orderBy: { firstSeq: 'asc' } })
    ).flatMap((chunk) => chunk.lines as [number, number, string][])
    // Each attempt: 300 lines, then one line saying the rest was dropped.
    expect(lines).toHaveLength(3 * 301)
    const notices = lines.filter((line) => line[2].startsWith('… log truncated'))
    expect(notices.map((line) => line[0])).toEqual([301, 602, 903])
    expect(notices[0]?.[2]).toContain('more than 300 lines or 1 MiB')
    expect(lines[299]?.[2]).toBe('attempt 1 line 299')
    expect(lines.some((line) => line[2] === 'attempt 1 line 300')).toBe(false)
    // The live stream keeps about one attempt's worth (MAXLEN ~ trims whole nodes of 100).
    const length = await redis.xlen(key)
    expect(length).toBeGreaterThanOrEqual(301)
    expect(length).toBeLessThan(2 * 301)
    const newest = (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]
    expect(newest?.[0]).toBe('0-903')
  })

  test('the byte limit cuts a log of long lines, counting masked UTF-8 text', async ({
    db,
    redis,
    redisPrefix,
    stageId,
  }) => {
    const limits = { lines: 50_000, bytes: 64 * 1024 }
    const log = await StageLog.open({ db, redis, prefix: redisPrefix, stageId, logger, secrets: [], limits })
    const long = 'é'.repeat(1000) // 2000 bytes
    for (let i = 0; i < 1000; i++) log.write(long)
    log.write('after the cut')
    await log.close()
    const lines = (
      await db.stageLogChunk.findMany({ where: { stageId }, orderBy: { firstSeq: 'asc' } })
    ).flatMap((chunk) => chunk.lines as [number, number, string][])
    expect(lines).toHaveLength(33)
    expect(lines.slice(0, 32).every((line) => line[2] === long)).toBe(true)
    expect(lines[32]?.[2]).toMatch(/^… log truncated: .* 50,000 lines or 64 KiB/)
    expect(await redis.xlen(logStreamKey(redisPrefix, stageId))).toBe(33)
  })
})

describe('LogBudget', () => {
  test('keeps lines while both limits hold, then one notice, then nothing', () => {
    const byLines = new LogBudget({ lines: 2, bytes: 100 })
    expect([byLines.admit('a'), byLines.admit('b')]).toEqual(['a', 'b'])
    expect(byLines.truncated).toBe(false)
    expect(byLines.admit('c')).toMatch(/^… log truncated/)
    expect(byLines.truncated).toBe(true)
    expect(byLines.admit('d')).toBeUndefined()

    const byBytes = new LogBudget({ lines: 10, bytes: 5 })
    expect(byBytes.admit('abc')).toBe('abc')
    expect(byBytes.admit('de')).toBe('de')
    expect(byBytes.admit('')).toBe('')
    expect(byBytes.admit('f')).toMatch(/5 bytes/)
    expect(byBytes.admit('')).toBeUndefined()

    // A single line over the byte limit is not kept either.
    const huge = new LogBudget({ lines: 10, bytes: 3 })
    expect(huge.admit('abcd')).toMatch(/^… log truncated/)
  })
})

describe('masker', () => {
  test('masks longer secrets first and ignores very short ones', () => {
    const mask = masker(['secret', 'secret-longer', 'ab'])
    expect(mask('x secret-longer y secret z ab')).toBe('x •••••• y •••••• z ab')
  })
})
