import { randomUUID } from 'node:crypto'
import { secretContext } from '@slipway/db'
import { makeTestRepo, type TestRepo } from '@slipway/testing'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { gitlabHeaders, pushHook, tagPushHook } from '../../test/support/gitlab-fixtures.ts'
import { makeProject, apiTest as test } from '../../test/support/test-app.ts'

const secret = 'webhook-secret-value'

/** One real repository for the file: deliveries are checked against it. */
let repo: TestRepo
beforeAll(async () => {
  repo = await makeTestRepo({ commits: 3 })
})
afterAll(() => repo.remove())
const head = () => repo.main.at(-1) as string

const hookTest = test.extend<{ projectId: string }>({
  projectId: async ({ db, deps }, use) => {
    const project = await makeProject(db, { gitUrl: repo.url })
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
        payload: pushHook({ ref: 'refs/heads/main', after: head(), title: 'Add checkout page' }),
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
        commitSha: head(),
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
          payload: pushHook({ ref: 'refs/heads/main', after: head() }),
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
    const payload = pushHook({ ref: 'refs/heads/main', after: head() })
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

  hookTest(
    'an annotated tag push builds the commit in checkout_sha, not the tag object in after',
    async ({ app, db, projectId }) => {
      const { name, object, commit } = repo.annotated
      expect(object).not.toBe(commit)
      const response = await app.inject({
        method: 'POST',
        url: `/api/webhooks/gitlab/${projectId}`,
        headers: gitlabHeaders('Tag Push Hook', secret, randomUUID()),
        payload: tagPushHook({ tag: name, after: object, checkoutSha: commit }),
      })
      expect(response.json().outcome).toBe('started')
      expect(await db.pipeline.findFirstOrThrow()).toMatchObject({
        ref: name,
        commitSha: commit,
        trigger: 'gitlab-tag',
        commitTitle: null,
      })
      expect((await db.webhookDelivery.findFirstOrThrow()).commitSha).toBe(commit)
    },
  )

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
      const other = await post('Push Hook', pushHook({ ref: 'refs/heads/feature/x', after: head() }))
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
        payload: pushHook({ ref: 'refs/heads/main', after: head() }),
      })
      statuses.push(response.statusCode)
    }
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true)
    expect(statuses.slice(20)).toEqual([429, 429])
    const right = await app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${projectId}`,
      headers: gitlabHeaders('Push Hook', secret, randomUUID()),
      payload: pushHook({ ref: 'refs/heads/main', after: head() }),
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
      payload: pushHook({ ref: 'refs/heads/main', after: head() }),
    })
    expect(response.statusCode).toBe(401)
    expect(response.json().error.message).toBe('the project has no webhook secret set')
  })

  hookTest(
    'a commit that is not on the pushed branch is ignored with the reason, and builds nothing',
    async ({ app, db, projectId }) => {
      const post = (ref: string, after: string) =>
        app.inject({
          method: 'POST',
          url: `/api/webhooks/gitlab/${projectId}`,
          headers: gitlabHeaders('Push Hook', secret, randomUUID()),
          payload: pushHook({ ref, after }),
        })
      // A feature branch's commit labelled main.
      const forged = await post('refs/heads/main', repo.feature)
      expect(forged.statusCode).toBe(200)
      expect(forged.json()).toEqual({ outcome: 'ignored', reason: `${repo.feature} is not on branch main` })
      const unknown = await post('refs/heads/main', 'c'.repeat(40))
      expect(unknown.json()).toMatchObject({ outcome: 'ignored' })
      expect(await db.pipeline.count()).toBe(0)
      expect(await db.webhookDelivery.findFirstOrThrow({ where: { commitSha: repo.feature } })).toMatchObject(
        {
          outcome: 'ignored',
          reason: `${repo.feature} is not on branch main`,
        },
      )
      // A push GitLab reports after the branch moved on: its commit is still main's.
      const late = await post('refs/heads/main', repo.main[0] as string)
      expect(late.json().outcome).toBe('started')
      expect(await db.pipeline.findFirstOrThrow()).toMatchObject({ ref: 'main', commitSha: repo.main[0] })
    },
  )

  hookTest('a tag push whose commit is not the tag is ignored', async ({ app, db, projectId }) => {
    const response = await app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${projectId}`,
      headers: gitlabHeaders('Tag Push Hook', secret, randomUUID()),
      payload: tagPushHook({ tag: repo.annotated.name, after: repo.feature }),
    })
    expect(response.json()).toEqual({
      outcome: 'ignored',
      reason: `tag ${repo.annotated.name} points at ${repo.annotated.commit}, not ${repo.feature}`,
    })
    expect(await db.pipeline.count()).toBe(0)
  })

  hookTest('a body over 1 MiB is refused with 413 before any work', async ({ app, db, projectId }) => {
    // A well-formed push whose one commit message makes it 2 MiB: GitLab never sends this.
    const payload = pushHook({ ref: 'refs/heads/main', after: head(), title: 'x'.repeat(2 * 1024 * 1024) })
    const response = await app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${projectId}`,
      headers: gitlabHeaders('Push Hook', secret, randomUUID()),
      payload,
    })
    expect(response.statusCode).toBe(413)
    expect(response.json().error.code).toBe('PAYLOAD_TOO_LARGE')
    expect(await db.pipeline.count()).toBe(0)
    expect(await db.webhookDelivery.count()).toBe(0)
  })

  hookTest(
    'a wrong token or an unknown project is refused from the headers, the body never parsed',
    async ({ app, db, projectId }) => {
      // Not JSON at all, and large: parsing it would answer 400 "not valid JSON".
      const garbage = `{${'"a":'.repeat(200_000)}`
      const wrong = await app.inject({
        method: 'POST',
        url: `/api/webhooks/gitlab/${projectId}`,
        headers: gitlabHeaders('Push Hook', 'wrong-token', randomUUID()),
        payload: garbage,
      })
      expect(wrong.statusCode).toBe(401)
      expect(wrong.json().error.code).toBe('UNAUTHENTICATED')
      // Over the body limit too: the token is checked first.
      const huge = await app.inject({
        method: 'POST',
        url: `/api/webhooks/gitlab/${projectId}`,
        headers: gitlabHeaders('Push Hook', 'wrong-token', randomUUID()),
        payload: 'x'.repeat(3 * 1024 * 1024),
      })
      expect(huge.statusCode).toBe(401)
      const nowhere = await app.inject({
        method: 'POST',
        url: `/api/webhooks/gitlab/${randomUUID()}`,
        headers: gitlabHeaders('Push Hook', secret, randomUUID()),
        payload: garbage,
      })
      expect(nowhere.statusCode).toBe(404)
      expect(nowhere.json().error.code).toBe('NOT_FOUND')
      expect(await db.webhookDelivery.count()).toBe(0)
    },
  )

  hookTest(
    'an event that never starts a pipeline is acknowledged from its headers, its body unread',
    async ({ app, db, projectId }) => {
      const uuid = randomUUID()
      const send = () =>
        app.inject({
          method: 'POST',
          url: `/api/webhooks/gitlab/${projectId}`,
          headers: gitlabHeaders('Merge Request Hook', secret, uuid),
          // Neither JSON nor within the limit: it is never read.
          payload: 'y'.repeat(3 * 1024 * 1024),
        })
      const first = await send()
      expect(first.statusCode).toBe(200)
      expect(first.json()).toEqual({
        outcome: 'ignored',
        reason: 'Merge Request Hook events do not start pipelines',
      })
      expect((await send()).json()).toMatchObject({ outcome: 'duplicate' })
      expect(await db.webhookDelivery.findFirstOrThrow()).toMatchObject({ eventId: uuid, outcome: 'ignored' })
    },
  )
})
