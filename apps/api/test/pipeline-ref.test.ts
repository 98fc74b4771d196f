import { makeTestRepo } from '@slipway/testing'
import { describe, expect, onTestFinished } from 'vitest'
import { makeProject, makeUser, apiTest as test } from './support/test-app.ts'

/** Issue 14, item 12: a ref and a SHA that do not belong together are refused. */
describe('a manual pipeline of a ref and a SHA', () => {
  test('builds a SHA only when it is on the ref; a feature commit labelled main is a 400', async ({
    app,
    db,
  }) => {
    const repo = await makeTestRepo({ commits: 2 })
    onTestFinished(() => repo.remove())
    const project = await makeProject(db, { gitUrl: repo.url })
    const developer = await makeUser(db, { projectId: project.id, role: 'developer' })
    const start = (payload: object) =>
      app.inject({
        method: 'POST',
        url: `/api/projects/${project.slug}/pipelines`,
        headers: developer.headers,
        payload,
      })

    const forged = await start({ ref: 'main', sha: repo.feature })
    expect(forged.statusCode).toBe(400)
    expect(forged.json().error).toEqual({
      code: 'VALIDATION_FAILED',
      message: `${repo.feature} does not belong to branch main`,
      details: { fields: [{ path: 'body.sha', message: `${repo.feature} is not on branch main` }] },
    })
    const tagObject = await start({ ref: repo.annotated.name, sha: repo.annotated.object })
    expect(tagObject.statusCode).toBe(400)
    expect(await db.pipeline.count()).toBe(0)

    const older = await start({ ref: 'main', sha: repo.main[0] })
    expect(older.statusCode).toBe(201)
    expect(older.json()).toMatchObject({ ref: 'main', commitSha: repo.main[0] })
    const head = await start({ ref: 'main' })
    expect(head.json()).toMatchObject({ ref: 'main', commitSha: repo.main[1] })
  })
})
