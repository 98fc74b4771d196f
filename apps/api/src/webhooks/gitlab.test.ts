import { randomUUID } from 'node:crypto'
import { secretContext } from '@slipway/db'
import { describe, expect } from 'vitest'
import { makeProject, apiTest as test } from '../test-app.ts'
import { gitlabHeaders, pushHook, tagPushHook } from './gitlab-fixtures.ts'

const sha = (n: number) => n.toString(16).padStart(40, 'a')
const secret = 'webhook-secret-value'

const hookTest = test.extend<{ projectId: string }>({
  projectId: async ({ db, deps }, use) => {
    const project = await makeProject(db)
    await db.project.update({
      where: { id: project.id },
      data: {
        tagRules: ['v*'],
        webhookSecretEnc: deps.secrets.encrypt(secret, secretContext.projectWebhookSecret(project.id)),
      },
    })
    await db.environment.create({ data: { projectId: project.id, name: 'pre-release', position: 0 } })
    await use(project.id)
  },
})

describe('GitLab webhook', () => {
  hookTest(
    'a push to a matching branch starts one pipeline and queues its first step',
    async ({ app, db, deps, projectId }) => {
      const uuid = randomUUID()
      const response = await app.inject({
        method: 'POST',
        url: `/api/webhooks/gitlab/${projectId}`,
        headers: gitlabHeaders('Push Hook', secret, uuid),
        payload: pushHook({ ref: 'refs/heads/main', after: sha(1), title: 'Add checkout page' }),
      })
      expect(response.statusCode).toBe(200)
      const reply = response.json()
      expect(reply.outcome).toBe('started')
      const pipeline = await db.pipeline.findUniqueOrThrow({
        where: { id: reply.pipelineId },
        include: { stages: true },
      })
      expect(pipeline).toMatchObject({
        ref: 'main',
        commitSha: sha(1),
        commitTitle: 'Add checkout page',
        trigger: 'gitlab-push',
        number: 1,
      })
      expect(pipeline.stages.map((s) => s.kind).sort()).toEqual(['build', 'deploy', 'push'])
      const jobs = await deps.queues.get('pipelines').getJobs(['waiting', 'delayed', 'prioritized', 'active'])
      expect(jobs.map((job) => job.data)).toEqual([{ pipelineId: pipeline.id }])
      const delivery = await db.webhookDelivery.findFirstOrThrow({ where: { projectId } })
      expect(delivery).toMatchObject({
        eventId: uuid,
        event: 'Push Hook',
        outcome: 'started',
        pipelineId: pipeline.id,
      })
      const audit = await db.auditEvent.findFirstOrThrow({ where: { action: 'pipeline.create' } })
      expect(audit.actorLabel).toBe('gitlab webhook (jsmith)')
    },
  )

  hookTest(
    'a redelivery with the same event UUID never starts a second pipeline',
    async ({ app, db, projectId }) => {
      const uuid = randomUUID()
      const send = () =>
        app.inject({
          method: 'POST',
          url: `/api/webhooks/gitlab/${projectId}`,
          headers: gitlabHeaders('Push Hook', secret, uuid),
          payload: pushHook({ ref: 'refs/heads/main', after: sha(2) }),
        })
      const replies = await Promise.all([send(), send(), send()])
      expect(replies.map((r) => r.statusCode)).toEqual([200, 200, 200])
      expect(replies.map((r) => r.json().outcome).sort()).toEqual(['duplicate', 'duplicate', 'started'])
      expect(await db.pipeline.count()).toBe(1)
      const duplicate = replies.find((r) => r.json().outcome === 'duplicate')?.json()
      expect(duplicate.pipelineId).toBe((await db.pipeline.findFirstOrThrow()).id)
    },
  )

  hookTest('Idempotency-Key de-duplicates when there is no event UUID', async ({ app, db, projectId }) => {
    const headers = { ...gitlabHeaders('Push Hook', secret), 'idempotency-key': 'key-1' }
    const payload = pushHook({ ref: 'refs/heads/main', after: sha(3) })
    await app.inject({ method: 'POST', url: `/api/webhooks/gitlab/${projectId}`, headers, payload })
    const second = await app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${projectId}`,
      headers,
      payload,
    })
    expect(second.json().outcome).toBe('duplicate')
    expect(await db.pipeline.count()).toBe(1)
  })

  hookTest('a tag push matching the tag rules starts a tag pipeline', async ({ app, db, projectId }) => {
    const response = await app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${projectId}`,
      headers: gitlabHeaders('Tag Push Hook', secret, randomUUID()),
      payload: tagPushHook({ tag: 'v1.2.0', after: sha(4) }),
    })
    expect(response.json().outcome).toBe('started')
    expect(await db.pipeline.findFirstOrThrow()).toMatchObject({
      ref: 'v1.2.0',
      trigger: 'gitlab-tag',
      commitTitle: null,
    })
  })

  hookTest(
    'branch deletions, other branches and other events are acknowledged and ignored',
    async ({ app, db, projectId }) => {
      const post = (event: 'Push Hook' | 'Merge Request Hook', payload: object) =>
        app.inject({
          method: 'POST',
          url: `/api/webhooks/gitlab/${projectId}`,
          headers: gitlabHeaders(event, secret, randomUUID()),
          payload,
        })
      const deleted = await post('Push Hook', pushHook({ ref: 'refs/heads/main', after: '0'.repeat(40) }))
      expect(deleted.json()).toEqual({ outcome: 'ignored', reason: 'ref deleted' })
      const other = await post('Push Hook', pushHook({ ref: 'refs/heads/feature/x', after: sha(5) }))
      expect(other.json()).toEqual({
        outcome: 'ignored',
        reason: 'branch feature/x does not match the project rules',
      })
      const mr = await post('Merge Request Hook', { object_kind: 'merge_request' })
      expect(mr.json()).toEqual({
        outcome: 'ignored',
        reason: 'Merge Request Hook events do not start pipelines',
      })
      expect(await db.pipeline.count()).toBe(0)
      expect((await db.webhookDelivery.findMany()).map((d) => d.outcome)).toEqual([
        'ignored',
        'ignored',
        'ignored',
      ])
    },
  )

  hookTest(
    'a malformed push payload is a 400, recorded, and starts nothing',
    async ({ app, db, projectId }) => {
      const response = await app.inject({
        method: 'POST',
        url: `/api/webhooks/gitlab/${projectId}`,
        headers: gitlabHeaders('Push Hook', secret, randomUUID()),
        payload: { object_kind: 'push', ref: 42 },
      })
      expect(response.statusCode).toBe(400)
      expect(response.json().error.code).toBe('VALIDATION_FAILED')
      expect(await db.pipeline.count()).toBe(0)
      expect((await db.webhookDelivery.findFirstOrThrow()).outcome).toBe('rejected')
    },
  )

  hookTest('a wrong token is 401 and repeated failures are rate limited', async ({ app, db, projectId }) => {
    const statuses: number[] = []
    for (let i = 0; i < 22; i++) {
      const response = await app.inject({
        method: 'POST',
        url: `/api/webhooks/gitlab/${projectId}`,
        headers: gitlabHeaders('Push Hook', `wrong-${i}`, randomUUID()),
        payload: pushHook({ ref: 'refs/heads/main', after: sha(6) }),
      })
      statuses.push(response.statusCode)
    }
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true)
    expect(statuses.slice(20)).toEqual([429, 429])
    const right = await app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${projectId}`,
      headers: gitlabHeaders('Push Hook', secret, randomUUID()),
      payload: pushHook({ ref: 'refs/heads/main', after: sha(6) }),
    })
    expect(right.statusCode).toBe(429)
    expect(await db.pipeline.count()).toBe(0)
    expect(await db.webhookDelivery.count()).toBe(0)
  })

  test('a project without a webhook secret refuses deliveries', async ({ app, db }) => {
    const project = await makeProject(db)
    const response = await app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${project.id}`,
      headers: gitlabHeaders('Push Hook', 'anything', randomUUID()),
      payload: pushHook({ ref: 'refs/heads/main', after: sha(7) }),
    })
    expect(response.statusCode).toBe(401)
    expect(response.json().error.message).toBe('the project has no webhook secret set')
  })
})
