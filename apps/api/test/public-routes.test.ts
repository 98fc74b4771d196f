import { randomUUID } from 'node:crypto'
import { makeTestRepo } from '@slipway/testing'
import { describe, expect, onTestFinished } from 'vitest'
import { hashPassword } from '../src/auth/crypto.ts'
import { gitlabHeaders, pushHook } from './support/gitlab-fixtures.ts'
import { describeResponse, send, watchChanges } from './support/send.ts'
import { apiTest as test } from './support/test-app.ts'
import { buildWorld, everyone } from './support/world.ts'

const secret = 'the-webhook-secret'

/** The routes that do not take a user's credentials: first-run setup, sign-in, the GitLab webhook. */
describe('public routes', () => {
  test('setup is refused once anyone exists, whoever asks, and changes nothing', async ({
    app,
    db,
    deps,
  }) => {
    const world = await buildWorld(db)
    const problems: string[] = []
    for (const who of everyone) {
      const changes = await watchChanges(deps)
      const response = await send(
        app,
        'POST',
        {
          url: '/api/auth/setup',
          body: { email: `root-${who}@example.com`, name: 'Root', password: 'a long enough password' },
        },
        world.users[who]?.headers,
      )
      const changed = await changes()
      if (response.statusCode !== 409)
        problems.push(`${who}: expected 409, got ${describeResponse(response)}`)
      if (changed.length) problems.push(`${who}: changed ${changed.join('; ')}`)
    }
    expect(problems).toEqual([])
  })

  test('login: a wrong password or a disabled account is a 401 that creates no session', async ({
    app,
    db,
    deps,
  }) => {
    const password = 'correct horse battery staple'
    const passwordHash = await hashPassword(password)
    const alice = await db.user.create({ data: { email: 'alice@example.com', name: 'Alice', passwordHash } })
    await db.user.create({
      data: { email: 'gone@example.com', name: 'Gone', passwordHash, disabledAt: new Date() },
    })
    for (const body of [
      { email: 'alice@example.com', password: 'wrong password' },
      { email: 'nobody@example.com', password },
      { email: 'gone@example.com', password },
    ]) {
      const changes = await watchChanges(deps)
      const response = await send(app, 'POST', { url: '/api/auth/login', body })
      expect(response.statusCode, body.email).toBe(401)
      expect(response.json().error.code).toBe('UNAUTHENTICATED')
      expect(await changes()).toEqual([])
    }
    const ok = await send(app, 'POST', {
      url: '/api/auth/login',
      body: { email: 'ALICE@example.com', password },
    })
    expect(ok.statusCode).toBe(200)
    const cookie = String(ok.headers['set-cookie'])
    expect(cookie).toMatch(/slipway_session=[^;]+;.*HttpOnly/i)
    expect(cookie).toMatch(/SameSite=Lax/i)
    expect(await db.session.count({ where: { userId: alice.id } })).toBe(1)
  })

  test('webhook: only the project secret in X-Gitlab-Token is accepted; user credentials are not', async ({
    app,
    db,
    deps,
  }) => {
    // Deliveries are checked against the repository: a real one, the pushes its main's head.
    const repo = await makeTestRepo()
    onTestFinished(() => repo.remove())
    const world = await buildWorld(db, { gitUrl: repo.url })
    const admin = world.users['instance-admin']!
    const setSecret = await send(
      app,
      'PATCH',
      { url: `/api/projects/${world.project.slug}`, body: { webhookSecret: secret } },
      admin.headers,
    )
    expect(setSecret.statusCode).toBe(200)
    const url = `/api/webhooks/gitlab/${world.project.id}`
    const delivery = () => pushHook({ ref: 'refs/heads/main', after: repo.main.at(-1) as string })
    const problems: string[] = []
    const attempts: { label: string; url: string; headers: Record<string, string>; status: number }[] = [
      ...everyone.map((who) => ({
        label: `${who} without X-Gitlab-Token`,
        url,
        headers: { ...world.users[who]?.headers, 'x-gitlab-event': 'Push Hook' },
        status: 401,
      })),
      {
        label: 'a wrong token',
        url,
        headers: gitlabHeaders('Push Hook', `${secret}x`, randomUUID()),
        status: 401,
      },
      {
        label: 'an empty token',
        url,
        headers: gitlabHeaders('Push Hook', '', randomUUID()),
        status: 401,
      },
      {
        label: 'the secret of another project',
        url: `/api/webhooks/gitlab/${randomUUID()}`,
        headers: gitlabHeaders('Push Hook', secret, randomUUID()),
        status: 404,
      },
    ]
    for (const attempt of attempts) {
      const changes = await watchChanges(deps)
      const response = await send(app, 'POST', { url: attempt.url, body: delivery() }, attempt.headers)
      const changed = await changes()
      if (response.statusCode !== attempt.status)
        problems.push(`${attempt.label}: expected ${attempt.status}, got ${describeResponse(response)}`)
      if (changed.length) problems.push(`${attempt.label}: changed ${changed.join('; ')}`)
    }
    expect(problems).toEqual([])

    const accepted = await send(
      app,
      'POST',
      { url, body: delivery() },
      gitlabHeaders('Push Hook', secret, randomUUID()),
    )
    expect(accepted.statusCode).toBe(200)
    expect(accepted.json().outcome).toBe('started')
    expect(await db.pipeline.count({ where: { projectId: world.project.id } })).toBe(1)
  })
})
