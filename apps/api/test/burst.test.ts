import { randomUUID } from 'node:crypto'
import { makeTestRepo } from '@slipway/testing'
import { describe, expect, onTestFinished } from 'vitest'
import { gitlabHeaders, pushHook } from './support/gitlab-fixtures.ts'
import { makeProject, makeUser, apiTest as test } from './support/test-app.ts'

/** Found by bench/api: deliveries queue behind one another on the project's pipeline numbering. */
describe('a burst of GitLab deliveries to one project', () => {
  test('is accepted whole: every delivery starts one pipeline, numbered without gaps', async ({
    app,
    db,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    // Deliveries are checked against the repository: every one pushes main's head, each its own event.
    const repo = await makeTestRepo()
    onTestFinished(() => repo.remove())
    const project = await makeProject(db, { gitUrl: repo.url })
    const secret = await app.inject({
      method: 'PATCH',
      url: `/api/projects/${project.slug}`,
      headers: admin.headers,
      payload: { webhookSecret: 'burst-secret' },
    })
    expect(secret.statusCode).toBe(200)
    const burst = 60
    const replies = await Promise.all(
      Array.from({ length: burst }, () =>
        app.inject({
          method: 'POST',
          url: `/api/webhooks/gitlab/${project.id}`,
          headers: gitlabHeaders('Push Hook', 'burst-secret', randomUUID()),
          payload: pushHook({ ref: 'refs/heads/main', after: repo.main.at(-1) as string }),
        }),
      ),
    )
    const statuses = replies.map((reply) => reply.statusCode)
    expect(statuses.filter((status) => status !== 200)).toEqual([])
    expect(replies.map((reply) => reply.json().outcome)).toEqual(Array(burst).fill('started'))
    const numbers = (
      await db.pipeline.findMany({ where: { projectId: project.id }, select: { number: true } })
    )
      .map((p) => p.number)
      .sort((a, b) => a - b)
    expect(numbers).toEqual(Array.from({ length: burst }, (_, i) => i + 1))
    expect(await db.outboxJob.count({ where: { name: 'pipeline.advance' } })).toBe(burst)
  })
})
