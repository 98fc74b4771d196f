import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { integrationTest as test } from '@slipway/testing'
import type { Job } from 'bullmq'
import { describe, expect } from 'vitest'
import { createWorkerDeps } from '../deps.ts'
import { runStage, type StageHandlers } from './runner.ts'

const logger = createLogger({ name: 'masked-error-test', level: 'silent' })
const secret = 'hunter2-build-token'

const notRun = async (): Promise<never> => {
  throw new Error('this stage kind is not part of the test')
}

describe('a failing stage', () => {
  test('stores its error with the stage’s secrets masked, as in its log', async ({
    db,
    redis,
    redisPrefix,
  }) => {
    const project = await db.project.create({
      data: { slug: 'masked', name: 'masked', gitUrl: 'file:///x.git', imageRepository: 'x/y', appSpec: {} },
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
    const stageId = pipeline.stages[0]!.id
    const handlers: StageHandlers = {
      secretsOf: async () => [secret],
      push: async () => {
        // A tool that echoes its command line, secret included, in its error.
        throw new Error(`npm ERR! 401 for https://registry.example/?token=${secret}`)
      },
      build: notRun,
      deploy: notRun,
    }
    const deps = createWorkerDeps({
      db,
      redis,
      prefix: redisPrefix,
      secrets: createSecretBox(parseKeyring(generateKeySpec())),
      logger,
      workerId: 'w-test',
      workDir: '/tmp/slipway-masked-error-test',
    })
    const outcome = await runStage(deps, handlers)(
      { stageId, attempt: 1 },
      { job: {} as Job, token: undefined, signal: AbortSignal.timeout(60_000), log: logger },
    )

    expect(outcome).toEqual({
      outcome: 'failed',
      error: 'npm ERR! 401 for https://registry.example/?token=••••••',
    })
    const stage = await db.stage.findUniqueOrThrow({ where: { id: stageId } })
    expect(stage.status).toBe('failed')
    expect(stage.error).toBe('npm ERR! 401 for https://registry.example/?token=••••••')
    const lines = (await db.stageLogChunk.findMany({ where: { stageId } })).flatMap(
      (chunk) => chunk.lines as [number, number, string][],
    )
    expect(lines.some((line) => line[2].includes('token=••••••'))).toBe(true)
    expect(JSON.stringify(lines)).not.toContain(secret)
  })
})
