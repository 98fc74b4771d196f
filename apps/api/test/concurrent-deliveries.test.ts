import { randomUUID } from 'node:crypto'
import { createLogger } from '@slipway/core'
import { createDb, secretContext } from '@slipway/db'
import { createRuns, publisher } from '@slipway/runs'
import { makeTestRepo } from '@slipway/testing'
import { describe, expect, onTestFinished } from 'vitest'
import { gitlabHeaders, pushHook } from './support/gitlab-fixtures.ts'
import { makeProject, apiTest as test } from './support/test-app.ts'

/**
 * Issue 14 item 7: GitLab counts every non-2xx against a hook and disables failing hooks, so
 * a delivery gets 200 whatever runs at the same time; lost races are retried inside.
 */
describe('concurrent GitLab deliveries while pipelines advance', () => {
  test('20 pushes and 10 redeliveries at once: all 200, each accounted for, numbered without gaps', async ({
    app,
    db,
    deps,
    databaseUrl,
  }) => {
    const repo = await makeTestRepo()
    onTestFinished(() => repo.remove())
    const project = await makeProject(db, { gitUrl: repo.url })
    await db.project.update({
      where: { id: project.id },
      data: {
        // Every push is of main: each new pipeline supersedes the queued ones before it.
        supersedeQueued: true,
        webhookSecretEnc: deps.secrets.encrypt('race-secret', secretContext.projectWebhookSecret(project.id)),
      },
    })
    await db.environment.create({ data: { projectId: project.id, name: 'staging', position: 0 } })
    await db.host.create({
      data: {
        name: `build-${project.slug}`,
        endpoint: 'tcp://10.9.9.1:2376',
        address: '10.9.9.1',
        agentGroup: project.buildAgentGroup,
        maxConcurrentBuilds: 100,
        grants: { create: { projectId: project.id } },
      },
    })

    // A worker of its own (another connection pool) advancing pipelines and claiming their
    // stages as the deliveries create and supersede them.
    const workerDb = createDb({ url: databaseUrl, poolSize: 5 })
    onTestFinished(() => workerDb.$disconnect())
    const worker = createRuns({
      db: workerDb,
      publish: publisher(deps.redis, deps.redisPrefix, deps.outbox, deps.logger),
      log: createLogger({ name: 'race-worker', level: 'silent' }),
    })
    let delivering = true
    const workerErrors: unknown[] = []
    let claimed = 0
    const advancing = (async () => {
      while (delivering) {
        try {
          const pipelines = await workerDb.pipeline.findMany({
            where: { projectId: project.id, status: { in: ['queued', 'running'] } },
            select: { id: true },
          })
          await Promise.all(pipelines.map((p) => worker.advancePipeline(p.id)))
          const queued = await workerDb.stage.findMany({
            where: { pipeline: { projectId: project.id }, status: 'queued' },
            select: { id: true, attempt: true },
          })
          const claims = await Promise.all(
            queued.map((s) => worker.claimStage(s.id, s.attempt + 1, 'race-worker')),
          )
          claimed += claims.filter((c) => c.kind === 'run').length
        } catch (error) {
          workerErrors.push(error)
        }
      }
    })()

    const send = (uuid: string) =>
      app.inject({
        method: 'POST',
        url: `/api/webhooks/gitlab/${project.id}`,
        headers: gitlabHeaders('Push Hook', 'race-secret', uuid),
        payload: pushHook({ ref: 'refs/heads/main', after: repo.main.at(-1) as string }),
      })
    const uuids = Array.from({ length: 20 }, () => randomUUID())
    const redelivered = uuids[7]!
    const replies = await Promise.all([
      ...uuids.map((uuid) => send(uuid)),
      ...Array.from({ length: 10 }, () => send(redelivered)),
    ])
    delivering = false
    await advancing

    expect(replies.map((reply) => reply.statusCode)).toEqual(Array(30).fill(200))
    const outcomes = replies.map((reply) => reply.json().outcome as string)
    expect(outcomes.filter((o) => o === 'started')).toHaveLength(20)
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(10)
    // Each delivery is recorded once per event; each started one names its own pipeline.
    const deliveries = await db.webhookDelivery.findMany({ where: { projectId: project.id } })
    expect(deliveries.map((d) => d.eventId).sort()).toEqual([...uuids].sort())
    const pipelines = await db.pipeline.findMany({
      where: { projectId: project.id },
      orderBy: { number: 'asc' },
    })
    expect(pipelines.map((p) => p.number)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(new Set(deliveries.map((d) => d.pipelineId))).toEqual(new Set(pipelines.map((p) => p.id)))
    // The worker's own steps never failed either (a lost race runs again inside).
    expect(workerErrors).toEqual([])
    expect(claimed).toBeGreaterThan(0)
  })
})
