import type { Db } from '@slipway/db'
import { describe, expect, test as unit } from 'vitest'
import { newPipeline, runsTest as test, type World } from '../../test/fixtures.ts'
import type { Runs } from '../runs.ts'
import { deployRefusal, rollbackRefusal } from './rules.ts'

describe('release rules (pure)', () => {
  unit('an older pipeline never replaces a newer live release', () => {
    expect(deployRefusal({ number: 3, trigger: 'manual' }, { pipelineNumber: 5 }, 'production')).toBe(
      'refusing to deploy pipeline #3 over #5, which is already live in production; roll back deliberately instead',
    )
  })

  unit('a newer or the same pipeline, or nothing live, may deploy', () => {
    expect(deployRefusal({ number: 5, trigger: 'manual' }, { pipelineNumber: 5 }, 'p')).toBeNull()
    expect(deployRefusal({ number: 6, trigger: 'gitlab-push' }, { pipelineNumber: 5 }, 'p')).toBeNull()
    expect(deployRefusal({ number: 1, trigger: 'manual' }, null, 'p')).toBeNull()
    expect(deployRefusal({ number: 1, trigger: 'manual' }, { pipelineNumber: null }, 'p')).toBeNull()
  })

  unit('operations go back in time deliberately', () => {
    for (const trigger of ['rollback', 'scale', 'redeploy'])
      expect(deployRefusal({ number: 2, trigger }, { pipelineNumber: 9 }, 'p')).toBeNull()
  })

  unit('a rollback goes only to a release that went live, and not the live one', () => {
    const live = { id: 'r5' }
    expect(rollbackRefusal({ id: 'r4', number: 4, status: 'superseded' }, live)).toBeNull()
    expect(rollbackRefusal({ id: 'r3', number: 3, status: 'failed' }, live)).toBe(
      'release #3 never went live (failed); pick one that did',
    )
    expect(rollbackRefusal({ id: 'r2', number: 2, status: 'rolled_back' }, live)).toContain('never went live')
    expect(rollbackRefusal({ id: 'r5', number: 5, status: 'live' }, live)).toBe('release #5 is already live')
  })
})

/** The production deploy lease for the test's one deployer (a new token each take). */
async function leaseOf(runs: Runs, world: World): Promise<string> {
  const lease = await runs.takeDeployLease(world.production.id, 'test-deploy', 'worker-a')
  if (!('token' in lease)) throw new Error('the deploy lease is held by another')
  return lease.token
}

/** A pipeline that pushed its image (so it can deploy). */
async function pushed(db: Db, runs: Runs, world: World, ref = 'main') {
  const pipeline = await newPipeline(runs, world, ref)
  return db.pipeline.update({
    where: { id: pipeline.id },
    data: { imageDigest: `registry.example/demo@sha256:${String(pipeline.number).padStart(64, '0')}` },
  })
}

async function deployed(db: Db, runs: Runs, world: World, ref = 'main') {
  const pipeline = await pushed(db, runs, world, ref)
  const deployLease = await leaseOf(runs, world)
  const release = await runs.startRelease({
    projectId: world.project.id,
    environment: world.production,
    pipeline,
    configVersionId: null,
    deployLease,
  })
  await runs.finishRelease(
    { id: release.id, environmentId: world.production.id, projectId: world.project.id },
    { succeeded: true, rolledBack: false, error: null, result: {} },
    deployLease,
  )
  return { pipeline, release }
}

describe('recording releases', () => {
  test('a release starts as deploying, by digest, pointing at the one live before it', async ({
    db,
    runs,
    world,
    events,
  }) => {
    const first = await deployed(db, runs, world)
    const pipeline = await pushed(db, runs, world, 'next')
    const release = await runs.startRelease({
      projectId: world.project.id,
      environment: world.production,
      pipeline,
      configVersionId: null,
      deployLease: await leaseOf(runs, world),
    })
    expect([release.number, release.status, release.previousReleaseId, release.kind]).toEqual([
      2,
      'deploying',
      first.release.id,
      'deploy',
    ])
    expect(release.digest).toBe(pipeline.imageDigest!.split('@')[1])
    expect(await events()).toContainEqual({
      type: 'release',
      environmentId: world.production.id,
      releaseId: release.id,
      status: 'deploying',
    })
  })

  test('a live release supersedes the one live before it', async ({ db, runs, world }) => {
    const first = await deployed(db, runs, world)
    const second = await deployed(db, runs, world, 'next')
    const rows = await db.release.findMany({ orderBy: { number: 'asc' } })
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      [first.release.id, 'superseded'],
      [second.release.id, 'live'],
    ])
  })

  test('an older pipeline is refused over a newer live release, and nothing is recorded', async ({
    db,
    runs,
    world,
  }) => {
    const older = await pushed(db, runs, world, 'old')
    await deployed(db, runs, world, 'new')
    await expect(
      runs.startRelease({
        projectId: world.project.id,
        environment: world.production,
        pipeline: older,
        configVersionId: null,
        deployLease: await leaseOf(runs, world),
      }),
    ).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
      message: expect.stringContaining('roll back deliberately'),
    })
    expect(await db.release.count()).toBe(1)
  })
})

describe('operations on an environment', () => {
  test('a rollback deploys the newest release before the live one, as a one-stage pipeline', async ({
    db,
    runs,
    world,
  }) => {
    const first = await deployed(db, runs, world, 'a')
    await deployed(db, runs, world, 'b')
    const { pipeline, source } = await runs.startOperation({
      project: world.project,
      environment: world.production,
      kind: 'rollback',
      actorUserId: '00000000-0000-7000-8000-000000000001',
    })
    expect(source?.id).toBe(first.release.id)
    expect([pipeline?.trigger, pipeline?.imageDigest, pipeline?.stages.map((s) => s.kind)]).toEqual([
      'rollback',
      first.pipeline.imageDigest,
      ['deploy'],
    ])
  })

  test('a rollback to a release that never went live is a conflict and starts nothing', async ({
    db,
    runs,
    world,
  }) => {
    await deployed(db, runs, world, 'a')
    const pipeline = await pushed(db, runs, world, 'b')
    const deployLease = await leaseOf(runs, world)
    const failed = await runs.startRelease({
      projectId: world.project.id,
      environment: world.production,
      pipeline,
      configVersionId: null,
      deployLease,
    })
    await runs.finishRelease(
      { id: failed.id, environmentId: world.production.id, projectId: world.project.id },
      { succeeded: false, rolledBack: true, error: 'unhealthy', result: {} },
      deployLease,
    )
    const before = await db.pipeline.count()
    await expect(
      runs.startOperation({
        project: world.project,
        environment: world.production,
        kind: 'rollback',
        actorUserId: '00000000-0000-7000-8000-000000000001',
        releaseNumber: failed.number,
      }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
      message: `release #${failed.number} never went live (rolled_back); pick one that did`,
    })
    expect(await db.pipeline.count()).toBe(before)
  })

  test('a redeploy with nothing live is a conflict; a scale with nothing live only stores the replicas', async ({
    db,
    runs,
    world,
  }) => {
    const operation = {
      project: world.project,
      environment: world.production,
      actorUserId: '00000000-0000-7000-8000-000000000001',
    }
    await expect(runs.startOperation({ ...operation, kind: 'redeploy' })).rejects.toMatchObject({
      code: 'CONFLICT',
    })
    const scaled = await runs.startOperation({ ...operation, kind: 'scale', replicas: 4 })
    expect(scaled.pipeline).toBeNull()
    expect((await db.environment.findUniqueOrThrow({ where: { id: world.production.id } })).replicas).toBe(4)
    expect(await db.pipeline.count()).toBe(0)
  })
})
