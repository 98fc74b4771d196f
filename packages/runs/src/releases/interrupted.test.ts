import type { Db } from '@slipway/db'
import { describe, expect } from 'vitest'
import { newPipeline, runsTest as test, type World } from '../../test/fixtures.ts'
import type { Runs } from '../runs.ts'

/** A pipeline whose deploy to staging is running (claimed by worker-a) and has started its release. */
async function deploying(db: Db, runs: Runs, world: World) {
  const created = await newPipeline(runs, world)
  const pipeline = await db.pipeline.update({
    where: { id: created.id },
    data: { imageDigest: `registry.example/demo@sha256:${'3'.repeat(64)}` },
  })
  const deploy = created.stages.find((s) => s.kind === 'deploy' && s.environmentId === world.staging.id)!
  await db.stage.updateMany({
    where: { pipelineId: pipeline.id, position: { lt: deploy.position } },
    data: { status: 'succeeded' },
  })
  await runs.advancePipeline(pipeline.id)
  const claim = await runs.claimStage(deploy.id, 1, 'worker-a')
  if (claim.kind !== 'run' || !claim.deployLease) throw new Error('deploy not claimed')
  const release = await runs.startRelease({
    projectId: world.project.id,
    environment: world.staging,
    pipeline,
    configVersionId: null,
    deployLease: claim.deployLease,
  })
  return { pipeline, deploy, release }
}

/** worker-a dies: neither its stage lease nor its deploy lease is renewed any more. */
async function workerDies(db: Db, stageId: string, environmentId: string) {
  const past = new Date(Date.now() - 60_000)
  await db.stage.update({ where: { id: stageId }, data: { leaseExpiresAt: past } })
  await db.deployLease.update({ where: { environmentId }, data: { expiresAt: past } })
}

describe('a crash mid-deploy', () => {
  test('the reaper settles the release the dead worker was making as failed, saying why', async ({
    db,
    runs,
    world,
  }) => {
    const { deploy, release } = await deploying(db, runs, world)
    await workerDies(db, deploy.id, world.staging.id)
    await runs.reapStages()
    const row = await db.release.findUniqueOrThrow({ where: { id: release.id } })
    expect([row.status, row.error]).toEqual([
      'failed',
      'interrupted: worker worker-a stopped responding during the rollout',
    ])
    expect(row.finishedAt).not.toBeNull()
    expect((await db.stage.findUniqueOrThrow({ where: { id: deploy.id } })).status).toBe('queued')
  })

  test('a next attempt taking the stage over settles it before deploying again', async ({
    db,
    runs,
    world,
  }) => {
    const { deploy, release } = await deploying(db, runs, world)
    await workerDies(db, deploy.id, world.staging.id)
    expect((await runs.claimStage(deploy.id, 1, 'worker-b')).kind).toBe('run')
    const row = await db.release.findUniqueOrThrow({ where: { id: release.id } })
    expect([row.status, row.error]).toEqual(['failed', expect.stringContaining('interrupted')])
  })

  test('a release being deployed under a live lease is left as it is', async ({ db, runs, world }) => {
    const { release } = await deploying(db, runs, world)
    await runs.reapStages()
    expect(await runs.takeDeployLease(world.staging.id, 'reconcile', 'worker-b')).toHaveProperty('heldUntil')
    expect((await db.release.findUniqueOrThrow({ where: { id: release.id } })).status).toBe('deploying')
  })
})

describe("a pipeline's start", () => {
  test('is when its first stage starts, not when it finishes', async ({ db, runs, world }) => {
    const pipeline = await newPipeline(runs, world)
    await runs.advancePipeline(pipeline.id)
    expect((await db.pipeline.findUniqueOrThrow({ where: { id: pipeline.id } })).startedAt).toBeNull()
    const build = pipeline.stages.find((s) => s.kind === 'build')!
    await runs.claimStage(build.id, 1, 'worker-a')
    const claimed = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    const row = await db.pipeline.findUniqueOrThrow({ where: { id: pipeline.id } })
    expect(row.startedAt).toEqual(claimed.startedAt)
  })

  test('a redeploy (one deploy stage) starts when its deploy does, so it does not last 0 s', async ({
    db,
    runs,
    world,
  }) => {
    const { deploy, release } = await deploying(db, runs, world)
    await runs.finishRelease(
      { id: release.id, environmentId: world.staging.id, projectId: world.project.id },
      { succeeded: true, rolledBack: false, error: null, result: {} },
      (await db.deployLease.findUniqueOrThrow({ where: { environmentId: world.staging.id } })).token,
    )
    await runs.succeedStage(deploy.id, {})
    await runs.dropDeployLease(
      world.staging.id,
      (await db.deployLease.findUniqueOrThrow({ where: { environmentId: world.staging.id } })).token,
    )
    const { pipeline: redeploy } = await runs.startOperation({
      project: world.project,
      environment: world.staging,
      kind: 'redeploy',
      actorUserId: '00000000-0000-7000-8000-000000000001',
    })
    await runs.advancePipeline(redeploy!.id)
    const stage = redeploy!.stages[0]!
    await runs.claimStage(stage.id, 1, 'worker-a')
    const started = (await db.stage.findUniqueOrThrow({ where: { id: stage.id } })).startedAt!
    await runs.succeedStage(stage.id, {})
    await runs.advancePipeline(redeploy!.id)
    const row = await db.pipeline.findUniqueOrThrow({ where: { id: redeploy!.id } })
    expect(row.status).toBe('succeeded')
    expect(row.startedAt).toEqual(started)
    expect(row.finishedAt!.getTime()).toBeGreaterThan(row.startedAt!.getTime())
  })
})
