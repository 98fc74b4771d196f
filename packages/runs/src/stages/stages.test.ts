import { AppError } from '@slipway/core'
import type { Db } from '@slipway/db'
import { describe, expect } from 'vitest'
import { queuedBuild, runsTest as test } from '../../test/fixtures.ts'
import { classifyFailure } from './outcome.ts'
import { reapStage, staleStages } from './reap.ts'

/** Makes a running stage's lease look expired long ago (its worker died). */
const expire = (db: Db, stageId: string) =>
  db.stage.update({ where: { id: stageId }, data: { leaseExpiresAt: new Date(Date.now() - 60_000) } })

describe('claiming a stage', () => {
  test('a queued build starts on a build host with a lease, and says so', async ({
    db,
    runs,
    world,
    events,
  }) => {
    const build = await queuedBuild(db, runs, world)
    const claim = await runs.claimStage(build.id, 1, 'worker-a')
    expect(claim.kind).toBe('run')
    const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect([row.status, row.attempt, row.leaseOwner, row.hostName]).toEqual([
      'running',
      1,
      'worker-a',
      'build-1',
    ])
    expect(row.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now())
    expect(await events()).toContainEqual({
      type: 'stage',
      pipelineId: build.pipelineId,
      stageId: build.id,
      status: 'running',
      attempt: 1,
    })
  })

  test('two claimers of one stage in two processes: exactly one runs it, every time', async ({
    db,
    second,
    runs,
    world,
  }) => {
    for (let round = 0; round < 10; round++) {
      const build = await queuedBuild(db, runs, world, `ref-${round}`)
      const claims = await Promise.all([
        runs.claimStage(build.id, 1, 'worker-a'),
        second.claimStage(build.id, 1, 'worker-b'),
      ])
      expect(claims.filter((c) => c.kind === 'run')).toHaveLength(1)
      // The loser sees a live lease on the same attempt: it waits for it, it does not run.
      expect(claims.filter((c) => c.kind === 'wait')).toHaveLength(1)
      const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
      expect(row.attempt).toBe(1)
      // The build slots are counted per host: the finished build frees its slot.
      await runs.succeedStage(build.id, {})
    }
  })

  test('a delivery of an attempt already done is skipped as stale', async ({ db, runs, world }) => {
    const build = await queuedBuild(db, runs, world)
    await runs.claimStage(build.id, 1, 'worker-a')
    await runs.releaseStage(build.id, 'host away')
    expect(await runs.claimStage(build.id, 1, 'worker-b')).toMatchObject({ kind: 'skip' })
    expect((await db.stage.findUniqueOrThrow({ where: { id: build.id } })).status).toBe('queued')
  })

  test('a running stage whose lease expired is taken over as the next attempt', async ({
    db,
    runs,
    world,
  }) => {
    const build = await queuedBuild(db, runs, world)
    await runs.claimStage(build.id, 1, 'worker-a')
    await expire(db, build.id)
    expect((await runs.claimStage(build.id, 1, 'worker-b')).kind).toBe('run')
    const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect([row.status, row.attempt, row.leaseOwner]).toEqual(['running', 2, 'worker-b'])
  })

  test('a build whose agent group has no host fails at once, for good', async ({ db, runs, world }) => {
    await db.project.update({ where: { id: world.project.id }, data: { buildAgentGroup: 'nowhere' } })
    const build = await queuedBuild(db, runs, world)
    const claim = await runs.claimStage(build.id, 1, 'worker-a')
    expect(claim).toMatchObject({ kind: 'failed', reason: expect.stringContaining('nowhere') })
    expect((await db.stage.findUniqueOrThrow({ where: { id: build.id } })).status).toBe('failed')
  })

  test('a build runs only on a host of its group granted to the project', async ({ db, runs, world }) => {
    await db.host.create({
      data: {
        name: 'build-theirs',
        endpoint: 'tcp://10.9.9.2:2376',
        address: '10.9.9.2',
        agentGroup: 'theirs',
      },
    })
    await db.project.update({ where: { id: world.project.id }, data: { buildAgentGroup: 'theirs' } })
    const build = await queuedBuild(db, runs, world)
    const claim = await runs.claimStage(build.id, 1, 'worker-a')
    expect(claim).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining('is granted to this project'),
    })
    const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect([row.status, row.hostName]).toEqual(['failed', null])
  })

  test('a stage past its last attempt fails instead of running again', async ({ db, runs, world }) => {
    const build = await queuedBuild(db, runs, world)
    await db.stage.update({ where: { id: build.id }, data: { attempt: 3 } })
    expect(await runs.claimStage(build.id, 4, 'worker-a')).toMatchObject({ kind: 'failed' })
    const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect([row.status, row.error]).toEqual(['failed', 'gave up after 3 attempts'])
  })

  test('cancel during claim: the stage is either canceled before it runs or runs flagged to stop', async ({
    db,
    second,
    runs,
    world,
  }) => {
    for (let round = 0; round < 8; round++) {
      const build = await queuedBuild(db, runs, world, `ref-${round}`)
      const [claim] = await Promise.all([
        runs.claimStage(build.id, 1, 'worker-a'),
        second.cancelPipeline(build.pipelineId, 'canceled by a person'),
      ])
      const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
      if (claim.kind === 'run') {
        expect([row.status, row.cancelRequested]).toEqual(['running', true])
        // Its worker stops as told (and frees the build slot for the next round).
        await runs.cancelStage(build.id)
      } else expect([claim.kind, row.status]).toEqual(['skip', 'canceled'])
    }
  })
})

describe('renewing a stage lease', () => {
  test('renewal is refused once another attempt took the stage over', async ({ db, runs, world }) => {
    const build = await queuedBuild(db, runs, world)
    const first = await runs.claimStage(build.id, 1, 'worker-a')
    if (first.kind !== 'run') throw new Error('not claimed')
    await expire(db, build.id)
    await runs.claimStage(build.id, 1, 'worker-b')
    expect(await runs.renewLease(first.stage, 'worker-a')).toMatchObject({ ours: false, cancel: false })
  })
})

describe('the outcome of a stage', () => {
  test('success records the result and queues the next step', async ({ db, runs, world }) => {
    const build = await queuedBuild(db, runs, world)
    await runs.claimStage(build.id, 1, 'worker-a')
    await runs.succeedStage(build.id, { image: 'demo:abc' })
    const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect([row.status, row.result, row.leaseOwner]).toEqual(['succeeded', { image: 'demo:abc' }, null])
    expect(await db.outboxJob.count({ where: { name: 'pipeline.advance' } })).toBe(2)
  })

  test('a release queues the next attempt after its delay', async ({ db, runs, world }) => {
    const build = await queuedBuild(db, runs, world)
    await runs.claimStage(build.id, 1, 'worker-a')
    await runs.releaseStage(build.id, 'host away', 8000)
    const job = await db.outboxJob.findFirstOrThrow({ where: { name: 'stage.run' }, orderBy: { id: 'desc' } })
    expect(job.payload).toEqual({ stageId: build.id, attempt: 2, group: 'default' })
    expect(job.availableAt.getTime()).toBeGreaterThan(Date.now() + 5000)
  })

  test('the retry policy: transient errors retry with a doubling backoff until the last attempt', () => {
    const hostAway = new AppError('HOST_UNREACHABLE', 'host away')
    expect(classifyFailure('build', 1, hostAway)).toEqual({ kind: 'retry', attempt: 2, of: 3, delayMs: 2000 })
    expect(classifyFailure('build', 2, hostAway)).toEqual({ kind: 'retry', attempt: 3, of: 3, delayMs: 4000 })
    expect(classifyFailure('build', 3, hostAway)).toEqual({ kind: 'fail' })
    expect(classifyFailure('deploy', 2, hostAway)).toEqual({ kind: 'fail' })
  })

  test('the retry policy: a permanent error or an unknown one fails at once', () => {
    expect(classifyFailure('build', 1, new AppError('BUILD_FAILED', 'step 3'))).toEqual({ kind: 'fail' })
    expect(classifyFailure('push', 1, new AppError('PRECONDITION_FAILED', 'no registry'))).toEqual({
      kind: 'fail',
    })
    expect(classifyFailure('push', 1, new Error('bug'))).toEqual({ kind: 'fail' })
  })
})

describe('reaping stages', () => {
  test('a stage whose worker died is released for another attempt', async ({ db, runs, world }) => {
    const build = await queuedBuild(db, runs, world)
    await runs.claimStage(build.id, 1, 'worker-a')
    await expire(db, build.id)
    expect(await runs.reapStages()).toMatchObject({ released: 1, failed: 0 })
    const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect([row.status, row.attempt, row.error]).toEqual([
      'queued',
      1,
      'worker worker-a stopped responding (lease expired)',
    ])
  })

  test('a stage whose worker died on its last attempt fails', async ({ db, runs, world }) => {
    const build = await queuedBuild(db, runs, world)
    await db.stage.update({ where: { id: build.id }, data: { attempt: 2 } })
    await runs.claimStage(build.id, 3, 'worker-a')
    await expire(db, build.id)
    expect(await runs.reapStages()).toMatchObject({ released: 0, failed: 1 })
    expect((await db.stage.findUniqueOrThrow({ where: { id: build.id } })).status).toBe('failed')
  })

  test('a stage taken over by a new attempt after the reaper read it is left alone', async ({
    db,
    runs,
    world,
  }) => {
    const build = await queuedBuild(db, runs, world)
    await runs.claimStage(build.id, 1, 'worker-a')
    await expire(db, build.id)
    const [stale] = await staleStages(db, Date.now())
    // Between the reaper's read and its write, a redelivered job takes the stage over.
    expect((await runs.claimStage(build.id, 1, 'worker-b')).kind).toBe('run')
    expect(await db.$transaction((tx) => reapStage(tx, stale!, Date.now()))).toBeNull()
    const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect([row.status, row.attempt, row.leaseOwner]).toEqual(['running', 2, 'worker-b'])
  })

  test('retry during reap: a stage retried after the reaper failed it is not reaped again', async ({
    db,
    runs,
    world,
  }) => {
    const build = await queuedBuild(db, runs, world)
    await db.stage.update({ where: { id: build.id }, data: { attempt: 2 } })
    await runs.claimStage(build.id, 3, 'worker-a')
    await expire(db, build.id)
    const [stale] = await staleStages(db, Date.now())
    expect(await runs.reapStages()).toMatchObject({ failed: 1 })
    await runs.advancePipeline(build.pipelineId)
    await runs.retryStage(build.pipelineId, build.id)
    // A second reaper that read the stage before all this writes nothing now.
    expect(await db.$transaction((tx) => reapStage(tx, stale!, Date.now()))).toBeNull()
    expect((await db.stage.findUniqueOrThrow({ where: { id: build.id } })).status).toBe('pending')
  })

  test('a reaper and a retry racing leave the stage either reaped or retried, never both broken', async ({
    db,
    second,
    runs,
    world,
  }) => {
    for (let round = 0; round < 6; round++) {
      const build = await queuedBuild(db, runs, world, `ref-${round}`)
      await db.stage.update({ where: { id: build.id }, data: { attempt: 2 } })
      await runs.claimStage(build.id, 3, 'worker-a')
      await expire(db, build.id)
      const [reaped, retried] = await Promise.allSettled([
        runs.reapStages(),
        second.retryStage(build.pipelineId, build.id),
      ])
      expect(reaped.status).toBe('fulfilled')
      const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
      // A retry while the stage still ran is refused; after the reaper failed it, it is allowed.
      if (retried.status === 'fulfilled') expect(row.status).toBe('pending')
      else {
        expect(retried.reason).toMatchObject({ code: 'CONFLICT' })
        expect(row.status).toBe('failed')
      }
    }
  })
})
