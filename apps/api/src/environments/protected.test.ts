import { randomUUID } from 'node:crypto'
import { secretContext } from '@slipway/db'
import { makeTestRepo, type TestRepo } from '@slipway/testing'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { gitlabHeaders, pushHook } from '../../test/support/gitlab-fixtures.ts'
import { makeProject, makeUser, apiTest as test } from '../../test/support/test-app.ts'

/**
 * Protected environments, path by path (issue 14 item 4): only the roles allowed to deploy to a
 * protected environment (or, where it requires approvals, its approvers) can cause a deploy there. Rollback, scale and redeploy by a developer
 * are refused by the permission matrix (test/permissions.test.ts, "deploy, protected environment").
 */
const secret = 'webhook-secret-value'
let repo: TestRepo
beforeAll(async () => {
  repo = await makeTestRepo({ commits: 2 })
})
afterAll(() => repo.remove())

type Db = Parameters<typeof makeUser>[0]

/** A project with pre-release (open) and production (protected, NO approvals required). */
async function setUp(db: Db, deps: { secrets: { encrypt(v: string, c: string): string } }) {
  const project = await makeProject(db, { gitUrl: repo.url })
  await db.project.update({
    where: { id: project.id },
    data: { webhookSecretEnc: deps.secrets.encrypt(secret, secretContext.projectWebhookSecret(project.id)) },
  })
  const pre = await db.environment.create({
    data: { projectId: project.id, name: 'pre-release', position: 0 },
  })
  const prod = await db.environment.create({
    data: { projectId: project.id, name: 'production', position: 1, protected: true, requiredApprovals: 0 },
  })
  const [developer, tester, maintainer] = await Promise.all(
    (['developer', 'tester', 'maintainer'] as const).map((role) =>
      makeUser(db, { projectId: project.id, role }),
    ),
  )
  return { project, pre, prod, developer: developer!, tester: tester!, maintainer: maintainer! }
}

type World = Awaited<ReturnType<typeof setUp>>

const plan = async (db: Db, pipelineId: string, world: World) => {
  const stages = await db.stage.findMany({ where: { pipelineId }, orderBy: { position: 'asc' } })
  const name = (id: string | null) => (id === world.prod.id ? 'production' : id === world.pre.id ? 'pre' : '')
  return stages.map((s) => `${s.kind}${s.environmentId ? `:${name(s.environmentId)}` : ''}`)
}

const gated = ['build', 'push', 'deploy:pre', 'approval:production', 'deploy:production']
const open = ['build', 'push', 'deploy:pre', 'deploy:production']

describe('protected environments: every path to a deploy', () => {
  test('a developer’s pipeline, a re-run and a GitLab push wait for a deployer; a maintainer’s does not', async ({
    app,
    db,
    deps,
  }) => {
    const world = await setUp(db, deps)
    const start = async (who: { headers: Record<string, string> }) => {
      const response = await app.inject({
        method: 'POST',
        url: `/api/projects/${world.project.slug}/pipelines`,
        headers: who.headers,
        payload: { ref: 'main' },
      })
      expect(response.statusCode).toBe(201)
      return response.json().id as string
    }
    expect(await plan(db, await start(world.developer), world)).toEqual(gated)
    const byMaintainer = await start(world.maintainer)
    expect(await plan(db, byMaintainer, world)).toEqual(open)

    const rerun = await app.inject({
      method: 'POST',
      url: `/api/pipelines/${byMaintainer}/rerun`,
      headers: world.developer.headers,
    })
    expect(rerun.statusCode).toBe(201)
    expect(await plan(db, rerun.json().id, world)).toEqual(gated)

    const push = await app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${world.project.id}`,
      headers: gitlabHeaders('Push Hook', secret, randomUUID()),
      payload: pushHook({ ref: 'refs/heads/main', after: repo.main.at(-1) as string }),
    })
    expect(push.statusCode).toBe(200)
    expect(push.json().outcome).toBe('started')
    expect(await plan(db, push.json().pipelineId, world)).toEqual(gated)
  })

  test('a tester’s approval does not let a developer’s pipeline deploy there; a maintainer’s does', async ({
    app,
    db,
    deps,
  }) => {
    const world = await setUp(db, deps)
    const started = await app.inject({
      method: 'POST',
      url: `/api/projects/${world.project.slug}/pipelines`,
      headers: world.developer.headers,
      payload: { ref: 'main' },
    })
    const pipelineId = started.json().id as string
    // The orchestrator's work, done by hand: built, pushed, pre-release deployed, now waiting.
    await db.pipeline.update({
      where: { id: pipelineId },
      data: { status: 'running', imageDigest: `127.0.0.1:5999/test/app@sha256:${'a'.repeat(64)}` },
    })
    await db.stage.updateMany({
      where: { pipelineId, kind: { in: ['build', 'push'] } },
      data: { status: 'succeeded' },
    })
    await db.stage.updateMany({
      where: { pipelineId, environmentId: world.pre.id },
      data: { status: 'succeeded' },
    })
    const approval = await db.stage.findFirstOrThrow({ where: { pipelineId, kind: 'approval' } })
    await db.stage.update({ where: { id: approval.id }, data: { status: 'waiting' } })
    const url = `/api/pipelines/${pipelineId}/stages/${approval.id}`

    const state = await app.inject({ method: 'GET', url: `${url}/approval`, headers: world.tester.headers })
    expect(state.json()).toMatchObject({ required: 1, waitsForDeployer: true })
    const byTester = await app.inject({
      method: 'POST',
      url: `${url}/approve`,
      headers: world.tester.headers,
      payload: { comment: 'tested' },
    })
    expect(byTester.statusCode).toBe(200)
    expect((await db.stage.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('waiting')
    const byMaintainer = await app.inject({
      method: 'POST',
      url: `${url}/approve`,
      headers: world.maintainer.headers,
      payload: { comment: 'ship it' },
    })
    expect(byMaintainer.statusCode).toBe(200)
    expect((await db.stage.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('succeeded')
  })

  test('where the protected environment requires approvals, they are its gate: a tester’s approval releases it', async ({
    app,
    db,
    deps,
  }) => {
    const world = await setUp(db, deps)
    await db.environment.update({ where: { id: world.prod.id }, data: { requiredApprovals: 1 } })
    const started = await app.inject({
      method: 'POST',
      url: `/api/projects/${world.project.slug}/pipelines`,
      headers: world.developer.headers,
      payload: { ref: 'main' },
    })
    const pipelineId = started.json().id as string
    expect(await plan(db, pipelineId, world)).toEqual(gated)
    await db.pipeline.update({
      where: { id: pipelineId },
      data: { status: 'running', imageDigest: `127.0.0.1:5999/test/app@sha256:${'b'.repeat(64)}` },
    })
    await db.stage.updateMany({
      where: { pipelineId, kind: { not: 'approval' } },
      data: { status: 'succeeded' },
    })
    await db.stage.updateMany({
      where: { pipelineId, environmentId: world.prod.id },
      data: { status: 'pending' },
    })
    const approval = await db.stage.findFirstOrThrow({ where: { pipelineId, kind: 'approval' } })
    await db.stage.update({ where: { id: approval.id }, data: { status: 'waiting' } })
    const url = `/api/pipelines/${pipelineId}/stages/${approval.id}`
    const state = await app.inject({ method: 'GET', url: `${url}/approval`, headers: world.tester.headers })
    expect(state.json()).toMatchObject({ required: 1, waitsForDeployer: false })
    const byTester = await app.inject({
      method: 'POST',
      url: `${url}/approve`,
      headers: world.tester.headers,
      payload: { comment: 'tested' },
    })
    expect(byTester.statusCode).toBe(200)
    expect((await db.stage.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('succeeded')
  })

  test('a developer cannot retry a deploy stage of a protected environment; a maintainer can', async ({
    app,
    db,
    deps,
  }) => {
    const world = await setUp(db, deps)
    const started = await app.inject({
      method: 'POST',
      url: `/api/projects/${world.project.slug}/pipelines`,
      headers: world.maintainer.headers,
      payload: { ref: 'main' },
    })
    const pipelineId = started.json().id as string
    await db.pipeline.update({ where: { id: pipelineId }, data: { status: 'failed' } })
    await db.stage.updateMany({ where: { pipelineId }, data: { status: 'succeeded' } })
    const deploy = await db.stage.findFirstOrThrow({ where: { pipelineId, environmentId: world.prod.id } })
    await db.stage.update({ where: { id: deploy.id }, data: { status: 'failed', error: 'unhealthy' } })
    const retry = (who: { headers: Record<string, string> }) =>
      app.inject({
        method: 'POST',
        url: `/api/pipelines/${pipelineId}/stages/${deploy.id}/retry`,
        headers: who.headers,
      })

    const audits = await db.auditEvent.count()
    const refused = await retry(world.developer)
    expect(refused.statusCode).toBe(403)
    expect(refused.json().error).toMatchObject({ code: 'FORBIDDEN', details: { action: 'deploy' } })
    expect(refused.json().error.message).toMatch(/production, which is protected/)
    expect(await db.stage.findUniqueOrThrow({ where: { id: deploy.id } })).toMatchObject({ status: 'failed' })
    expect(await db.auditEvent.count()).toBe(audits)

    const allowed = await retry(world.maintainer)
    expect(allowed.statusCode).toBe(200)
    expect(await db.stage.findUniqueOrThrow({ where: { id: deploy.id } })).toMatchObject({
      status: 'pending',
    })
  })

  test('a developer may retry a build whose protected deploy still waits for a deployer', async ({
    app,
    db,
    deps,
  }) => {
    const world = await setUp(db, deps)
    const started = await app.inject({
      method: 'POST',
      url: `/api/projects/${world.project.slug}/pipelines`,
      headers: world.developer.headers,
      payload: { ref: 'main' },
    })
    const pipelineId = started.json().id as string
    await db.pipeline.update({ where: { id: pipelineId }, data: { status: 'failed' } })
    await db.stage.updateMany({ where: { pipelineId }, data: { status: 'skipped' } })
    const build = await db.stage.findFirstOrThrow({ where: { pipelineId, kind: 'build' } })
    await db.stage.update({ where: { id: build.id }, data: { status: 'failed' } })
    const retried = await app.inject({
      method: 'POST',
      url: `/api/pipelines/${pipelineId}/stages/${build.id}/retry`,
      headers: world.developer.headers,
    })
    expect(retried.statusCode).toBe(200)
    const stages = await db.stage.findMany({ where: { pipelineId } })
    expect(stages.every((s) => s.status === 'pending')).toBe(true)
  })
})
