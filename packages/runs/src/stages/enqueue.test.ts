import { describe, expect } from 'vitest'
import { newPipeline, runsTest as test } from '../../test/fixtures.ts'
import { enqueueStageRun } from './enqueue.ts'

describe('sending a stage to a worker', () => {
  test("builds and pushes carry their project's build agent group; a deploy carries none", async ({
    db,
    runs,
    world,
  }) => {
    await db.project.update({ where: { id: world.project.id }, data: { buildAgentGroup: 'gpu' } })
    const pipeline = await newPipeline(runs, world)
    const stages = await db.stage.findMany({
      where: { pipelineId: pipeline.id, kind: { not: 'approval' } },
      orderBy: { position: 'asc' },
    })
    expect(stages.map((stage) => stage.kind)).toEqual(['build', 'push', 'deploy', 'deploy'])
    const before = await db.outboxJob.count()
    await db.$transaction(async (tx) => {
      for (const stage of stages) await enqueueStageRun(tx, stage.id, 1)
    })
    const sent = await db.outboxJob.findMany({ orderBy: { id: 'asc' }, skip: before })
    expect(
      sent.map((row) => [
        stages.find((stage) => stage.id === (row.payload as { stageId: string }).stageId)?.kind,
        row.payload,
      ]),
    ).toEqual(
      stages.map((stage) => [
        stage.kind,
        {
          stageId: stage.id,
          attempt: 1,
          ...(stage.kind === 'build' || stage.kind === 'push' ? { group: 'gpu' } : {}),
        },
      ]),
    )
  })
})
