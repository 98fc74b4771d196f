import { setTimeout as sleep } from 'node:timers/promises'
import { createDb } from '@slipway/db'
import { describe, expect, onTestFinished } from 'vitest'
import { lifecycleOver, makeWorld, newPipeline, queuedBuild, runsTest as test } from '../../test/fixtures.ts'

const outbox = (db: Parameters<typeof makeWorld>[0], name: string) =>
  db.outboxJob.findMany({ where: { name }, orderBy: { id: 'asc' } })

describe('creating a pipeline', () => {
  test('plans build, push and one deploy per environment, and queues its first step', async ({
    db,
    runs,
    world,
  }) => {
    const pipeline = await newPipeline(runs, world)
    expect(pipeline.number).toBe(1)
    expect(pipeline.stages.map((s) => [s.kind, s.environmentId])).toEqual([
      ['build', null],
      ['push', null],
      ['deploy', world.staging.id],
      ['deploy', world.production.id],
    ])
    const jobs = await outbox(db, 'pipeline.advance')
    expect(jobs.map((job) => job.payload)).toEqual([{ pipelineId: pipeline.id }])
  })

  test('pipelines created at once by two processes are numbered without gaps or duplicates', async ({
    db,
    second,
    runs,
    world,
  }) => {
    const created = await Promise.all(
      Array.from({ length: 16 }, (_, i) => newPipeline(i % 2 ? second : runs, world, `ref-${i}`)),
    )
    expect(created.map((p) => p.number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 16 }, (_, i) => i + 1),
    )
    expect(await db.pipeline.count()).toBe(16)
  })

  test('with every pooled connection busy past the wait for one, a pipeline is still created (no 503 to a delivery)', async ({
    databaseUrl,
    redis,
    redisPrefix,
    world,
  }) => {
    const small = createDb({ url: databaseUrl, poolSize: 1 })
    onTestFinished(() => small.$disconnect())
    const runs = lifecycleOver(small, redis, redisPrefix)
    // The pool's one connection stays busy for 3 s, longer than Prisma waits to start a
    // transaction (2 s): the creation's first try cannot start.
    const busy = small.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_sleep(3)`
      },
      { timeout: 10_000 },
    )
    await sleep(200)
    const pipeline = await newPipeline(runs, world)
    await busy
    expect(pipeline.number).toBe(1)
  })

  test('a new pipeline supersedes older queued pipelines of the same ref and says so', async ({
    db,
    runs,
    world,
    events,
  }) => {
    const first = await newPipeline(runs, world, 'main')
    const other = await newPipeline(runs, world, 'feature')
    const third = await newPipeline(runs, world, 'main')
    const rows = await db.pipeline.findMany({ orderBy: { number: 'asc' } })
    expect(rows.map((p) => [p.number, p.status, p.error])).toEqual([
      [first.number, 'canceled', `superseded by #${third.number}`],
      [other.number, 'queued', null],
      [third.number, 'queued', null],
    ])
    expect(await events()).toContainEqual({
      type: 'pipeline',
      pipelineId: first.id,
      status: 'canceled',
      number: first.number,
    })
  })

  test('a pipeline whose first stage started is running: it says so then, and is not superseded', async ({
    db,
    runs,
    world,
    events,
  }) => {
    const build = await queuedBuild(db, runs, world)
    expect(await runs.claimStage(build.id, 1, 'worker-a')).toMatchObject({ kind: 'run' })
    const started = await db.pipeline.findUniqueOrThrow({ where: { id: build.pipelineId } })
    expect(started.status).toBe('running')
    expect(await events()).toContainEqual({
      type: 'pipeline',
      pipelineId: build.pipelineId,
      status: 'running',
      number: started.number,
    })
    // A newer pipeline of the same ref leaves the running build alone.
    await newPipeline(runs, world, 'main')
    expect(await db.stage.findUniqueOrThrow({ where: { id: build.id } })).toMatchObject({
      status: 'running',
      cancelRequested: false,
    })
    expect((await db.pipeline.findUniqueOrThrow({ where: { id: build.pipelineId } })).status).toBe('running')
  })

  test('a project that does not supersede keeps older queued pipelines', async ({ db, runs }) => {
    const world = await makeWorld(db, { supersedeQueued: false })
    await newPipeline(runs, world)
    await newPipeline(runs, world)
    expect((await db.pipeline.findMany()).map((p) => p.status)).toEqual(['queued', 'queued'])
  })
})

describe('advancing a pipeline', () => {
  test('queues its first pending stage with a stage.run job for attempt 1, and says so', async ({
    db,
    runs,
    world,
    events,
  }) => {
    const pipeline = await newPipeline(runs, world)
    await runs.advancePipeline(pipeline.id)
    const build = await db.stage.findFirstOrThrow({ where: { pipelineId: pipeline.id, kind: 'build' } })
    expect(build.status).toBe('queued')
    expect((await outbox(db, 'stage.run')).map((job) => job.payload)).toEqual([
      { stageId: build.id, attempt: 1, group: 'default' },
    ])
    expect(await events()).toContainEqual({
      type: 'stage',
      pipelineId: pipeline.id,
      stageId: build.id,
      status: 'queued',
      attempt: 0,
    })
  })

  test('advancing twice changes nothing the second time', async ({ db, runs, world }) => {
    const pipeline = await newPipeline(runs, world)
    await runs.advancePipeline(pipeline.id)
    const second = await runs.advancePipeline(pipeline.id)
    expect(second.events).toEqual([])
    expect(await db.outboxJob.count({ where: { name: 'stage.run' } })).toBe(1)
  })

  test('an approval stage waits for people instead of being queued', async ({ db, runs, world }) => {
    await db.environment.update({ where: { id: world.staging.id }, data: { requiredApprovals: 1 } })
    const pipeline = await newPipeline(runs, world)
    await db.stage.updateMany({
      where: { pipelineId: pipeline.id, kind: { in: ['build', 'push'] } },
      data: { status: 'succeeded' },
    })
    await runs.advancePipeline(pipeline.id)
    const approval = await db.stage.findFirstOrThrow({ where: { pipelineId: pipeline.id, kind: 'approval' } })
    expect(approval.status).toBe('waiting')
    expect(await db.outboxJob.count({ where: { name: 'stage.run' } })).toBe(0)
  })
})

describe('canceling a pipeline', () => {
  test('stages not started are canceled at once', async ({ db, runs, world }) => {
    const pipeline = await newPipeline(runs, world)
    await runs.advancePipeline(pipeline.id)
    await runs.cancelPipeline(pipeline.id, 'canceled by a person')
    const stages = await db.stage.findMany({
      where: { pipelineId: pipeline.id },
      orderBy: { position: 'asc' },
    })
    expect(stages.map((s) => s.status)).toEqual(['canceled', 'canceled', 'canceled', 'canceled'])
    const row = await db.pipeline.findUniqueOrThrow({ where: { id: pipeline.id } })
    expect([row.status, row.error]).toEqual(['canceled', 'canceled by a person'])
  })

  test('a running stage is flagged and named to be told to stop, not canceled under its worker', async ({
    db,
    runs,
    world,
    published,
  }) => {
    const pipeline = await newPipeline(runs, world)
    await runs.advancePipeline(pipeline.id)
    const build = await db.stage.findFirstOrThrow({ where: { pipelineId: pipeline.id, kind: 'build' } })
    expect((await runs.claimStage(build.id, 1, 'worker-a')).kind).toBe('run')
    await runs.cancelPipeline(pipeline.id, 'stop')
    const after = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect([after.status, after.cancelRequested]).toEqual(['running', true])
    expect(published.at(-1)?.cancelRunning).toEqual([build.id])
  })

  test('a pipeline that is over cannot be canceled; the conflict names its number, not an id', async ({
    runs,
    world,
  }) => {
    const pipeline = await newPipeline(runs, world)
    await runs.cancelPipeline(pipeline.id, 'first')
    const error = await runs.cancelPipeline(pipeline.id, 'again').catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'CONFLICT',
      message: `pipeline #${pipeline.number} already canceled`,
    })
    expect(String((error as Error).message)).not.toContain(pipeline.id)
  })
})

describe('retrying a stage', () => {
  test('a failed stage and the stages skipped after it run again', async ({ db, runs, world }) => {
    const pipeline = await newPipeline(runs, world)
    await runs.advancePipeline(pipeline.id)
    const build = await db.stage.findFirstOrThrow({ where: { pipelineId: pipeline.id, kind: 'build' } })
    await runs.claimStage(build.id, 1, 'worker-a')
    await runs.failStage(build.id, 'BUILD_FAILED')
    await runs.advancePipeline(pipeline.id)
    expect((await db.pipeline.findUniqueOrThrow({ where: { id: pipeline.id } })).status).toBe('failed')

    await runs.retryStage(pipeline.id, build.id)
    const stages = await db.stage.findMany({
      where: { pipelineId: pipeline.id },
      orderBy: { position: 'asc' },
    })
    expect(stages.map((s) => s.status)).toEqual(['pending', 'pending', 'pending', 'pending'])
    const row = await db.pipeline.findUniqueOrThrow({ where: { id: pipeline.id } })
    expect([row.error, row.status]).toEqual([null, 'queued'])
    expect(await db.outboxJob.count({ where: { name: 'pipeline.advance' } })).toBe(3)
  })

  test('a stage that used all its attempts runs again when retried, with all its tries', async ({
    db,
    runs,
    world,
  }) => {
    const build = await queuedBuild(db, runs, world)
    const pipeline = { id: build.pipelineId }
    // Three attempts, each released by a transient failure, the last one failing the stage.
    for (const attempt of [1, 2, 3]) {
      expect(await runs.claimStage(build.id, attempt, 'worker-a')).toMatchObject({ kind: 'run' })
      if (attempt < 3) await runs.releaseStage(build.id, 'HOST_UNREACHABLE')
      else await runs.failStage(build.id, 'HOST_UNREACHABLE')
    }
    await runs.advancePipeline(pipeline.id)
    expect((await db.pipeline.findUniqueOrThrow({ where: { id: pipeline.id } })).status).toBe('failed')

    await runs.retryStage(pipeline.id, build.id)
    await runs.advancePipeline(pipeline.id)
    // Before, the claim said "gave up after 3 attempts" and the retry failed at once.
    expect(await runs.claimStage(build.id, 4, 'worker-a')).toMatchObject({ kind: 'run' })
    const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect([row.status, row.attempt, row.retryBase]).toEqual(['running', 4, 3])
    // And it has its three tries again: two more releases, then the claim of a fourth gives up.
    await runs.releaseStage(build.id, 'HOST_UNREACHABLE')
    expect(await runs.claimStage(build.id, 5, 'worker-a')).toMatchObject({ kind: 'run' })
    await runs.releaseStage(build.id, 'HOST_UNREACHABLE')
    expect(await runs.claimStage(build.id, 6, 'worker-a')).toMatchObject({ kind: 'run' })
    await runs.releaseStage(build.id, 'HOST_UNREACHABLE')
    expect(await runs.claimStage(build.id, 7, 'worker-a')).toMatchObject({ kind: 'failed' })
    expect(await db.stage.findUniqueOrThrow({ where: { id: build.id } })).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('gave up after 3 attempts'),
    })
  })

  test('a stage cannot be retried while another stage of the pipeline runs', async ({ db, runs, world }) => {
    const pipeline = await newPipeline(runs, world)
    await runs.advancePipeline(pipeline.id)
    const build = await db.stage.findFirstOrThrow({ where: { pipelineId: pipeline.id, kind: 'build' } })
    await runs.claimStage(build.id, 1, 'worker-a')
    await expect(runs.retryStage(pipeline.id, build.id)).rejects.toMatchObject({ code: 'CONFLICT' })
    expect((await db.stage.findUniqueOrThrow({ where: { id: build.id } })).status).toBe('running')
  })
})
