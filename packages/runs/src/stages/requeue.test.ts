import type { Db } from '@slipway/db'
import { describe, expect } from 'vitest'
import { queuedBuild, runsTest as test } from '../../test/fixtures.ts'

/** The stage.run jobs written to the outbox for `stageId` so far. */
const jobsFor = async (db: Db, stageId: string) =>
  (await db.outboxJob.findMany({ where: { name: 'stage.run' } })).filter(
    (row) => (row.payload as { stageId?: string }).stageId === stageId,
  ).length

/** Makes the stage look queued, and untouched by any job, since three minutes ago. */
const queuedLongAgo = (db: Db, stageId: string) =>
  db.$executeRaw`UPDATE "Stage" SET "queuedAt" = now() - interval '3 minutes', "updatedAt" = now() - interval '3 minutes' WHERE id = ${stageId}::uuid`

describe('sending lost stage jobs again', () => {
  test('a queued stage no job has touched for two minutes is sent again, once per period', async ({
    db,
    runs,
    world,
  }) => {
    const build = await queuedBuild(db, runs, world)
    expect(await jobsFor(db, build.id)).toBe(1)
    await queuedLongAgo(db, build.id)

    expect(await runs.reapStages()).toMatchObject({ requeued: 1 })
    expect(await jobsFor(db, build.id)).toBe(2)
    // The reaper runs every few seconds: the next runs send nothing more.
    expect(await runs.reapStages()).toMatchObject({ requeued: 0 })
    expect(await runs.reapStages(Date.now() + 60_000)).toMatchObject({ requeued: 0 })
    expect(await jobsFor(db, build.id)).toBe(2)
    // Two more minutes and still no job: once more.
    expect(await runs.reapStages(Date.now() + 150_000)).toMatchObject({ requeued: 1 })
    expect(await jobsFor(db, build.id)).toBe(3)
  })

  test('a stage whose job waits for a build slot is never sent again, however long it waits', async ({
    db,
    runs,
    world,
  }) => {
    const build = await queuedBuild(db, runs, world)
    // No usable build host: every claim says wait.
    await db.host.update({ where: { name: 'build-1' }, data: { status: 'down' } })
    await queuedLongAgo(db, build.id)

    expect(await runs.claimStage(build.id, 1, 'worker-a')).toMatchObject({ kind: 'wait' })
    expect(await runs.reapStages()).toMatchObject({ requeued: 0 })
    expect(await jobsFor(db, build.id)).toBe(1)
    // Its queue position is kept: waiting does not move queuedAt.
    const row = await db.stage.findUniqueOrThrow({ where: { id: build.id } })
    expect(row.queuedAt!.getTime()).toBeLessThan(Date.now() - 170_000)
  })
})
