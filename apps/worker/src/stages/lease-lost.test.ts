import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import type { Db } from '@slipway/db'
import { integrationTest as test } from '@slipway/testing'
import type { Job } from 'bullmq'
import type { Redis } from 'ioredis'
import { expect } from 'vitest'
import { createWorkerDeps } from '../deps.ts'
import { runStage, type StageHandlers } from './runner.ts'

const logger = createLogger({ name: 'lease-lost-test', level: 'silent' })

const workerDeps = (db: Db, redis: Redis, prefix: string) =>
  createWorkerDeps({
    db,
    redis,
    prefix,
    secrets: createSecretBox(parseKeyring(generateKeySpec())),
    logger,
    workerId: 'w-test',
    workDir: '/tmp/slipway-lease-lost-test',
  })

const notRun = async (): Promise<never> => {
  throw new Error('this stage kind is not part of the test')
}

test('a deploy whose environment lease was taken over stops, says so in its log and records nothing', async ({
  db,
  redis,
  redisPrefix,
}) => {
  const project = await db.project.create({
    data: { slug: 'leased', name: 'leased', gitUrl: 'file:///x.git', imageRepository: 'x/y', appSpec: {} },
  })
  const environment = await db.environment.create({
    data: { projectId: project.id, name: 'production', position: 0 },
  })
  const pipeline = await db.pipeline.create({
    data: {
      projectId: project.id,
      number: 1,
      ref: 'main',
      commitSha: 'a'.repeat(40),
      trigger: 'manual',
      status: 'running',
      imageDigest: `registry.example/x/y@sha256:${'2'.repeat(64)}`,
      stages: {
        create: [
          {
            position: 0,
            kind: 'deploy',
            environmentId: environment.id,
            status: 'queued',
            queuedAt: new Date(),
          },
        ],
      },
    },
    include: { stages: true },
  })
  const stageId = pipeline.stages[0]!.id
  const deps = workerDeps(db, redis, redisPrefix)
  const handlers: StageHandlers = {
    secretsOf: async () => [],
    deploy: async ({ deps, deployLease }) => {
      // Mid-deploy, the lease expires (renewals failed) and a reconcile takes the environment.
      await db.deployLease.update({
        where: { environmentId: environment.id },
        data: { expiresAt: new Date(Date.now() - 1000) },
      })
      const taken = await deps.runs.takeDeployLease(environment.id, 'reconcile', 'w-other')
      expect('token' in taken).toBe(true)
      // Every write under the lease is fenced with its token: this one changes nothing.
      await deps.runs.startRelease({
        projectId: project.id,
        environment,
        pipeline,
        configVersionId: null,
        deployLease: deployLease!,
      })
      return {}
    },
    build: notRun,
    push: notRun,
  }
  const outcome = await runStage(deps, handlers)(
    { stageId, attempt: 1 },
    { job: {} as Job, token: undefined, signal: AbortSignal.timeout(60_000), log: logger },
  )

  expect(outcome).toMatchObject({ outcome: 'retrying', error: expect.stringContaining('deploy lease') })
  expect(await db.release.count()).toBe(0)
  const stage = await db.stage.findUniqueOrThrow({ where: { id: stageId } })
  expect([stage.status, stage.error]).toEqual([
    'queued',
    expect.stringContaining('deploy lease of production was lost'),
  ])
  const chunks = await db.stageLogChunk.findMany({ where: { stageId } })
  const text = chunks
    .flatMap((chunk) => (chunk.lines as [number, number, string][]).map((line) => line[2]))
    .join('\n')
  expect(text).toContain('■ the deploy lease of production was lost')
  // The reconcile still holds the environment: the stopped deploy did not give its lease back.
  expect((await db.deployLease.findUniqueOrThrow({ where: { environmentId: environment.id } })).holder).toBe(
    'reconcile',
  )
})
