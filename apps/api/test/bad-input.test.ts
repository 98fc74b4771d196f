import { describe, expect } from 'vitest'
import type { App } from '../src/app.ts'
import type { AppDeps } from '../src/deps.ts'
import { send, watchChanges } from './support/send.ts'
import { makeProject, makeUser, apiTest as test } from './support/test-app.ts'

type BadRequest = { method: string; url: string; body?: unknown; field: string }

/** Each request is a 400 VALIDATION_FAILED naming its field with `reason`, and changes nothing. */
async function expectRefused(
  app: App,
  deps: AppDeps,
  headers: Record<string, string>,
  requests: BadRequest[],
  reason: string,
) {
  for (const { method, field, ...request } of requests) {
    const changes = await watchChanges(deps)
    const response = await send(app, method, request, headers)
    expect(response.statusCode, `${method} ${request.url}`).toBe(400)
    expect(response.json().error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { fields: [{ path: field, message: expect.stringContaining(reason) }] },
    })
    expect(await changes()).toEqual([])
  }
}

/** Inputs the fuzz test found answered with a 500; each is a 4xx that changes nothing. */
describe('bad input found by fuzzing', () => {
  test('a NUL character in any text is a 400, not a database error', async ({ app, db, deps }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const project = await makeProject(db)
    const requests: BadRequest[] = [
      { method: 'POST', url: '/api/tokens', body: { name: 'ci\u0000' }, field: 'body.name' },
      {
        method: 'PATCH',
        url: `/api/projects/${project.slug}`,
        body: { name: 'Shop', buildArgs: { A: 'x\u0000' } },
        field: 'body.buildArgs.A',
      },
      { method: 'GET', url: '/api/projects/a%00b', field: 'params.project' },
      {
        method: 'GET',
        url: `/api/projects/${project.slug}/environments/pre%00release`,
        field: 'params.environment',
      },
      { method: 'GET', url: '/api/audit?action=a%00b', field: 'querystring.action' },
    ]
    await expectRefused(app, deps, admin.headers, requests, 'NUL')
  })

  test('a lone surrogate in any text is a 400, not a 500 nor text silently changed to U+FFFD', async ({
    app,
    db,
    deps,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const project = await makeProject(db)
    const env = await db.environment.create({
      data: { projectId: project.id, name: 'pre-release', position: 0 },
    })
    const requests: BadRequest[] = [
      // Was a 500: the configuration's encoder choked on it.
      {
        method: 'PATCH',
        url: `/api/projects/${project.slug}/environments/${env.name}/config`,
        body: { variables: { LOG_LEVEL: 'debug\uD800' } },
        field: 'body.variables.LOG_LEVEL',
      },
      // Was stored as "Shop\uFFFD": not what was sent.
      {
        method: 'PATCH',
        url: `/api/projects/${project.slug}`,
        body: { name: 'Shop\uDC00' },
        field: 'body.name',
      },
      { method: 'POST', url: '/api/tokens', body: { name: '\uD83D' }, field: 'body.name' },
    ]
    await expectRefused(app, deps, admin.headers, requests, 'lone surrogate')
    // A whole surrogate pair (an emoji) is text like any other.
    const emoji = await send(
      app,
      'PATCH',
      { url: `/api/projects/${project.slug}`, body: { name: 'Shop \uD83D\uDE80' } },
      admin.headers,
    )
    expect(emoji.statusCode).toBe(200)
    expect(emoji.json().name).toBe('Shop \u{1F680}')
  })

  test('an audit cursor beyond the 64-bit ids is a 400 naming the cursor', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    for (const cursor of ['9223372036854775808', '9999999999999999999']) {
      const response = await send(app, 'GET', { url: `/api/audit?cursor=${cursor}` }, admin.headers)
      expect(response.statusCode, cursor).toBe(400)
      expect(response.json().error.details.fields[0].path).toBe('querystring.cursor')
    }
    const last = await send(app, 'GET', { url: '/api/audit?cursor=9223372036854775807' }, admin.headers)
    expect(last.statusCode).toBe(200)
  })

  test('a webhook payload nested too deeply to hash is a 400', async ({ app, db, deps }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const project = await makeProject(db)
    const patch = { url: `/api/projects/${project.slug}`, body: { webhookSecret: 'hook-secret' } }
    expect((await send(app, 'PATCH', patch, admin.headers)).statusCode).toBe(200)
    const changes = await watchChanges(deps)
    const response = await app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${project.id}`,
      headers: {
        'content-type': 'application/json',
        'x-gitlab-token': 'hook-secret',
        'x-gitlab-event': 'Push Hook',
      },
      payload: `${'['.repeat(200_000)}${']'.repeat(200_000)}`,
    })
    expect(response.statusCode).toBe(400)
    expect(response.json().error.code).toBe('VALIDATION_FAILED')
    expect(await changes()).toEqual([])
  })
})
