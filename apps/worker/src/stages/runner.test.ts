import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { createDb, type Db } from '@slipway/db'
import { integrationTest } from '@slipway/testing'
import { freePort, PrivatePostgres } from '@slipway/testing/services'
import type { Job } from 'bullmq'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { createWorkerDeps } from '../deps.ts'
import { runStage, type StageHandlers } from './runner.ts'

const logger = createLogger({ name: 'runner-test', level: 'silent' })
const secret = 'hunter2-registry-password'

const workerDeps = (db: Db, redis: Redis, prefix: string) =>
  createWorkerDeps({
    db,
    redis,
    prefix,
    secrets: createSecretBox(parseKeyring(generateKeySpec())),
    logger,
    workerId: 'w-test',
    workDir: '/tmp/slipway-runner-test',
  })

/** A pipeline whose only stage, a push, is queued for its first attempt. */
async function queuedPush(db: Db, slug: string): Promise<string> {
  const project = await db.project.create({
    data: { slug, name: slug, gitUrl: 'file:///x.git', imageRepository: 'x/y', appSpec: {} },
  })
  const pipeline = await db.pipeline.create({
    data: {
      projectId: project.id,
      number: 1,
      ref: 'main',
      commitSha: 'a'.repeat(40),
      trigger: 'manual',
      status: 'running',
      stages: { create: [{ position: 0, kind: 'push', status: 'queued', queuedAt: new Date() }] },
    },
    include: { stages: true },
  })
  return pipeline.stages[0]!.id
}

async function storedLog(db: Db, stageId: string): Promise<string> {
  const chunks = await db.stageLogChunk.findMany({ where: { stageId }, orderBy: { firstSeq: 'asc' } })
  return chunks
    .flatMap((chunk) => (chunk.lines as [number, number, string][]).map((line) => line[2]))
    .join('\n')
}

const notRun = async (): Promise<never> => {
  throw new Error('this stage kind is not part of the test')
}

describe('stage runner while PostgreSQL restarts', () => {
  let postgres: PrivatePostgres
  let db: Db
  beforeAll(async () => {
    postgres = await PrivatePostgres.create(await freePort())
    db = createDb({ url: postgres.url, poolSize: 4 })
  }, 120_000)
  afterAll(async () => {
    await db?.$disconnect()
    await postgres?.remove()
  })

  /** Crashes the database now and starts it again after `ms` (awaited by the caller). */
  function outage(ms: number): Promise<void> {
    return postgres.crash().then(() => sleep(ms).then(() => postgres.start()))
  }

  integrationTest(
    'a crash right after the claim is waited out: one attempt, and the secrets are still masked',
    async ({ redis, redisPrefix }) => {
      const stageId = await queuedPush(db, 'claimed')
      let secretReads = 0
      let back: Promise<void> | undefined
      const handlers: StageHandlers = {
        secretsOf: async (deps) => {
          secretReads++
          if (secretReads === 1) {
            const down = outage(3000)
            back = down
            await sleep(500)
          }
          await deps.db.project.count()
          return [secret]
        },
        push: async ({ deps, log, patient }) => {
          log.write(`logging in with ${secret}`)
          return { result: { projects: await patient(() => deps.db.project.count()) } }
        },
        build: notRun,
        deploy: notRun,
      }
      const outcome = await runStage(workerDeps(db, redis, redisPrefix), handlers)(
        { stageId, attempt: 1 },
        { job: {} as Job, token: undefined, signal: AbortSignal.timeout(60_000), log: logger },
      )
      await back

      expect(outcome).toEqual({ outcome: 'succeeded' })
      expect(secretReads).toBeGreaterThan(1)
      const stage = await db.stage.findUniqueOrThrow({ where: { id: stageId } })
      expect(stage).toMatchObject({ status: 'succeeded', attempt: 1, result: { projects: 1 } })
      const text = await storedLog(db, stageId)
      expect(text).toContain('▶ push · attempt 1')
      expect(text).toContain('logging in with ••••••')
      expect(text).not.toContain(secret)
    },
  )

  integrationTest(
    'a crash while the stage works: its patient reads wait, any other database error gives it another attempt',
    async ({ redis, redisPrefix }) => {
      const stageId = await queuedPush(db, 'working')
      const handlers: StageHandlers = {
        secretsOf: async () => [],
        push: async ({ deps, patient }) => {
          const down = outage(2500)
          await sleep(300)
          // Waits for the database to come back, writing so in the log.
          await patient(() => deps.db.project.count())
          await down
          await postgres.crash()
          try {
            // Not patient: fails at once, and the stage is released for another attempt.
            await deps.db.project.count()
          } finally {
            await postgres.start()
          }
          return {}
        },
        build: notRun,
        deploy: notRun,
      }
      const outcome = await runStage(workerDeps(db, redis, redisPrefix), handlers)(
        { stageId, attempt: 1 },
        { job: {} as Job, token: undefined, signal: AbortSignal.timeout(60_000), log: logger },
      )

      expect(outcome).toMatchObject({ outcome: 'retrying' })
      const stage = await db.stage.findUniqueOrThrow({ where: { id: stageId } })
      expect(stage).toMatchObject({ status: 'queued', attempt: 1 })
      expect(stage.error).toMatch(/Can't reach database server/)
      const text = await storedLog(db, stageId)
      expect(text).toMatch(/… the database does not answer; trying again in \d+\.\d s/)
      expect(text).toMatch(/will retry: attempt 2 of 3/)
    },
  )
})
