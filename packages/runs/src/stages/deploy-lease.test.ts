import type { Db } from '@slipway/db'
import { describe, expect } from 'vitest'
import { newPipeline, runsTest as test, type World } from '../../test/fixtures.ts'
import type { Runs } from '../runs.ts'
import { DeployLeaseLost } from './deploy-lease.ts'

/** Makes the environment's deploy lease look expired (its holder stopped renewing it). */
const expireLease = (db: Db, environmentId: string) =>
  db.deployLease.update({ where: { environmentId }, data: { expiresAt: new Date(Date.now() - 1000) } })

async function token(runs: Runs, environmentId: string, holder: string): Promise<string> {
  const lease = await runs.takeDeployLease(environmentId, holder, `worker-of-${holder}`)
  if (!('token' in lease)) throw new Error(`${holder} did not get the lease`)
  return lease.token
}

/** A pipeline whose image is pushed, ready to record a release in production. */
async function pushed(db: Db, runs: Runs, world: World) {
  const pipeline = await newPipeline(runs, world)
  return db.pipeline.update({
    where: { id: pipeline.id },
    data: { imageDigest: `registry.example/demo@sha256:${'1'.repeat(64)}` },
  })
}

describe("an environment's deploy lease", () => {
  test('two takers racing in two processes: exactly one holds it, every round', async ({
    db,
    second,
    runs,
    world,
  }) => {
    for (let round = 0; round < 40; round++) {
      const takes = await Promise.all([
        runs.takeDeployLease(world.production.id, `deploy-a-${round}`, 'worker-a'),
        second.takeDeployLease(world.production.id, `deploy-b-${round}`, 'worker-b'),
      ])
      const winners = takes.filter((take) => 'token' in take)
      expect(winners).toHaveLength(1)
      const row = await db.deployLease.findUniqueOrThrow({ where: { environmentId: world.production.id } })
      expect(row.token).toBe((winners[0] as { token: string }).token)
      // Half the rounds the holder gives it back, half it expires: both make it free again.
      if (round % 2) await runs.dropDeployLease(world.production.id, row.token)
      else await expireLease(db, world.production.id)
    }
  })

  test('a live lease is not taken: the taker learns until when it is held', async ({ runs, world }) => {
    await token(runs, world.production.id, 'deploy-a')
    const take = await runs.takeDeployLease(world.production.id, 'reconcile', 'worker-b')
    expect('heldUntil' in take && take.heldUntil.getTime()).toBeGreaterThan(Date.now())
  })

  test('renewal extends a lease still held, and reports one taken over after it expired', async ({
    db,
    runs,
    world,
  }) => {
    const first = await token(runs, world.production.id, 'deploy-a')
    expect(await runs.renewDeployLease(world.production.id, first)).toBe(true)
    await expireLease(db, world.production.id)
    await token(runs, world.production.id, 'reconcile')
    expect(await runs.renewDeployLease(world.production.id, first)).toBe(false)
  })

  test('a write fenced with a lost lease changes nothing', async ({ db, runs, world }) => {
    const pipeline = await pushed(db, runs, world)
    const first = await token(runs, world.production.id, 'deploy-a')
    await expireLease(db, world.production.id)
    await token(runs, world.production.id, 'deploy-b')
    await expect(
      runs.startRelease({
        projectId: world.project.id,
        environment: world.production,
        pipeline,
        configVersionId: null,
        deployLease: first,
      }),
    ).rejects.toBeInstanceOf(DeployLeaseLost)
    await expect(
      runs.underDeployLease(world.production.id, first, (tx) =>
        tx.environment.update({ where: { id: world.production.id }, data: { replicas: 9 } }),
      ),
    ).rejects.toBeInstanceOf(DeployLeaseLost)
    expect(await db.release.count()).toBe(0)
    expect((await db.environment.findUniqueOrThrow({ where: { id: world.production.id } })).replicas).toBe(1)
  })

  test("a release's outcome written after its lease was lost changes nothing", async ({
    db,
    runs,
    world,
  }) => {
    const pipeline = await pushed(db, runs, world)
    const first = await token(runs, world.production.id, 'deploy-a')
    const release = await runs.startRelease({
      projectId: world.project.id,
      environment: world.production,
      pipeline,
      configVersionId: null,
      deployLease: first,
    })
    await expireLease(db, world.production.id)
    await token(runs, world.production.id, 'deploy-b')
    await expect(
      runs.finishRelease(
        { id: release.id, environmentId: world.production.id, projectId: world.project.id },
        { succeeded: true, rolledBack: false, error: null, result: {} },
        first,
      ),
    ).rejects.toBeInstanceOf(DeployLeaseLost)
    expect((await db.release.findUniqueOrThrow({ where: { id: release.id } })).status).not.toBe('live')
  })

  test('a deploy stage claims the lease with a token and renews it with that token only', async ({
    db,
    runs,
    world,
  }) => {
    const pipeline = await newPipeline(runs, world)
    const deploy = pipeline.stages.find((s) => s.kind === 'deploy')!
    await db.stage.updateMany({
      where: { pipelineId: pipeline.id, position: { lt: deploy.position } },
      data: { status: 'succeeded' },
    })
    await runs.advancePipeline(pipeline.id)
    const claim = await runs.claimStage(deploy.id, 1, 'worker-a')
    if (claim.kind !== 'run' || !claim.deployLease) throw new Error('no deploy lease taken')
    expect((await runs.renewLease(claim.stage, 'worker-a', claim.deployLease)).deployLeaseLost).toBe(false)
    await expireLease(db, deploy.environmentId!)
    await token(runs, deploy.environmentId!, 'reconcile')
    expect(await runs.renewLease(claim.stage, 'worker-a', claim.deployLease)).toEqual({
      ours: true,
      cancel: false,
      deployLeaseLost: true,
    })
  })
})
