import { createHook } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import { secretContext } from '@slipway/db'
import { describe, expect } from 'vitest'
import { makeProject, makeUser, apiTest as test } from '../../test/support/test-app.ts'
import type { App } from '../app.ts'

const password = 'a long password'

function cookieFrom(response: { headers: Record<string, unknown> }): string {
  const raw = response.headers['set-cookie']
  const first = Array.isArray(raw) ? raw[0] : String(raw)
  return first.split(';')[0] as string
}

const httpsTest = test.extend({
  appOptions: { settings: { publicUrl: 'https://slipway.example.com' } },
})

const proxiedTest = test.extend({
  appOptions: { settings: { trustedProxies: ['10.0.0.2'] } },
})

const shortSessionTest = test.extend({
  appOptions: { settings: { sessionLifetimeMs: 60 * 60 * 1000, sessionIdleMs: 60 * 60 * 1000 } },
})

describe('session cookie and the public URL', () => {
  test('over plain http the cookie is not Secure', async ({ app }) => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'a@example.com', name: 'A', password },
    })
    expect(String(created.headers['set-cookie'])).not.toMatch(/;\s*Secure/i)
  })

  httpsTest('with an https public URL the cookie is Secure, HSTS is sent', async ({ app }) => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'a@example.com', name: 'A', password },
    })
    expect(created.statusCode).toBe(201)
    expect(String(created.headers['set-cookie'])).toMatch(/;\s*Secure/i)
    expect(created.headers['strict-transport-security']).toMatch(/max-age=\d+/)
  })
})

describe('trusted proxies', () => {
  const secret = 'webhook-secret-value'
  const deliver = (
    app: App,
    projectId: string,
    token: string,
    from: { peer: string; forwardedFor?: string },
  ) =>
    app.inject({
      method: 'POST',
      url: `/api/webhooks/gitlab/${projectId}`,
      remoteAddress: from.peer,
      headers: {
        'x-gitlab-token': token,
        'x-gitlab-event': 'Note Hook',
        'x-gitlab-event-uuid': randomUUID(),
        ...(from.forwardedFor ? { 'x-forwarded-for': from.forwardedFor } : {}),
      },
      payload: { object_kind: 'note' },
    })

  proxiedTest(
    "behind the proxy, bad webhook tokens from one address do not block GitLab's deliveries from another",
    async ({ app, db, deps }) => {
      const project = await makeProject(db)
      await db.project.update({
        where: { id: project.id },
        data: {
          webhookSecretEnc: deps.secrets.encrypt(secret, secretContext.projectWebhookSecret(project.id)),
        },
      })
      const proxy = '10.0.0.2'
      for (let i = 0; i < 20; i++) {
        const bad = await deliver(app, project.id, 'guess', { peer: proxy, forwardedFor: '203.0.113.50' })
        expect(bad.statusCode).toBe(401)
      }
      const blocked = await deliver(app, project.id, secret, { peer: proxy, forwardedFor: '203.0.113.50' })
      expect(blocked.statusCode).toBe(429)
      const gitlab = await deliver(app, project.id, secret, { peer: proxy, forwardedFor: '198.51.100.77' })
      expect(gitlab.statusCode).toBe(200)
      expect(gitlab.json().outcome).toBe('ignored')
    },
  )

  proxiedTest(
    'X-Forwarded-* from a peer that is not a trusted proxy is not believed',
    async ({ app, db }) => {
      await app.inject({
        method: 'POST',
        url: '/api/auth/setup',
        payload: { email: 'a@example.com', name: 'A', password },
      })
      const sent = await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: '192.0.2.66',
        headers: { 'x-forwarded-for': '198.51.100.1', 'x-forwarded-proto': 'https' },
        payload: { email: 'a@example.com', password },
      })
      expect(sent.statusCode).toBe(200)
      expect(String(sent.headers['set-cookie'])).not.toMatch(/;\s*Secure/i)
      const proxied = await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: '10.0.0.2',
        headers: { 'x-forwarded-for': '198.51.100.1', 'x-forwarded-proto': 'https' },
        payload: { email: 'a@example.com', password },
      })
      expect(String(proxied.headers['set-cookie'])).toMatch(/;\s*Secure/i)
      // The audit log records the client's address: the peer's own, or the proxy's word for it.
      const token = await app.inject({
        method: 'POST',
        url: '/api/tokens',
        remoteAddress: '10.0.0.2',
        headers: {
          cookie: cookieFrom(proxied),
          'x-csrf-token': proxied.json().csrfToken,
          'x-forwarded-for': '198.51.100.1',
        },
        payload: { name: 'ci' },
      })
      expect(token.statusCode).toBe(201)
      const event = await db.auditEvent.findFirstOrThrow({ where: { action: 'token.create' } })
      expect(event.ip).toBe('198.51.100.1')
    },
  )
})

describe('changing a password', () => {
  test("ends the user's other sessions and revokes their tokens, keeping the session that changed it", async ({
    app,
    db,
  }) => {
    await app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'a@example.com', name: 'A', password },
    })
    const signIn = () =>
      app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'a@example.com', password } })
    const here = await signIn()
    const elsewhere = await signIn()
    const cookie = cookieFrom(here)
    const csrf = here.json().csrfToken
    const minted = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: { cookie, 'x-csrf-token': csrf },
      payload: { name: 'ci' },
    })
    const bearer = { authorization: `Bearer ${minted.json().token}` }
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer })).statusCode).toBe(200)

    const wrong = await app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: { cookie, 'x-csrf-token': csrf },
      payload: { currentPassword: 'not it at all', newPassword: 'another long password' },
    })
    expect(wrong.statusCode).toBe(400)
    expect(wrong.json().error.details.fields).toEqual([
      { path: 'body.currentPassword', message: 'wrong password' },
    ])

    const changed = await app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: { cookie, 'x-csrf-token': csrf },
      payload: { currentPassword: password, newPassword: 'another long password' },
    })
    expect(changed.statusCode).toBe(204)
    const me = (headers: Record<string, string>) =>
      app.inject({ method: 'GET', url: '/api/auth/me', headers })
    expect((await me({ cookie })).statusCode).toBe(200)
    expect((await me({ cookie: cookieFrom(elsewhere) })).statusCode).toBe(401)
    expect((await me(bearer)).statusCode).toBe(401)
    expect(await db.apiToken.count({ where: { revokedAt: null } })).toBe(0)
    expect(await db.auditEvent.count({ where: { action: 'user.password' } })).toBe(1)
    expect((await signIn()).statusCode).toBe(401)
  })

  test("an administrator setting someone's password ends all of that user's sessions and tokens", async ({
    app,
    db,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const created = await app.inject({
      method: 'POST',
      url: '/api/users',
      headers: admin.headers,
      payload: { email: 'dev@example.com', name: 'Dev', password },
    })
    const session = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'dev@example.com', password },
    })
    const cookie = cookieFrom(session)
    const token = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: { cookie, 'x-csrf-token': session.json().csrfToken },
      payload: { name: 'ci' },
    })
    const reset = await app.inject({
      method: 'PATCH',
      url: `/api/users/${created.json().id}`,
      headers: admin.headers,
      payload: { password: 'a brand new password' },
    })
    expect(reset.statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } })).statusCode).toBe(
      401,
    )
    const bearer = { authorization: `Bearer ${token.json().token}` }
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer })).statusCode).toBe(401)
    // The administrator's own token is untouched.
    expect(
      (await app.inject({ method: 'GET', url: '/api/auth/me', headers: admin.headers })).statusCode,
    ).toBe(200)
  })
})

describe('tokens minting tokens', () => {
  test('a token cannot create a token that outlives it', async ({ app, db }) => {
    const user = await makeUser(db)
    const parent = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: user.headers,
      payload: { name: 'parent', expiresInDays: 10 },
    })
    const parentExpiry = parent.json().expiresAt
    const viaParent = { authorization: `Bearer ${parent.json().token}` }

    const longer = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: viaParent,
      payload: { name: 'longer', expiresInDays: 30 },
    })
    expect(longer.statusCode).toBe(400)
    expect(longer.json().error.details.fields[0].path).toBe('body.expiresInDays')
    const forever = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: viaParent,
      payload: { name: 'forever' },
    })
    expect(forever.statusCode).toBe(201)
    expect(forever.json().expiresAt).toBe(parentExpiry)
    const shorter = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: viaParent,
      payload: { name: 'shorter', expiresInDays: 5 },
    })
    expect(shorter.statusCode).toBe(201)
    expect(new Date(shorter.json().expiresAt) < new Date(parentExpiry)).toBe(true)
    expect(await db.apiToken.count({ where: { name: 'longer' } })).toBe(0)
  })
})

describe('session lifetime', () => {
  shortSessionTest('a session ends at its absolute lifetime however active it is', async ({ app, db }) => {
    await app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'a@example.com', name: 'A', password },
    })
    const login = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'a@example.com', password },
    })
    expect(String(login.headers['set-cookie'])).toMatch(/Max-Age=3600/)
    const cookie = cookieFrom(login)
    const me = () => app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } })
    const session = await db.session.findFirstOrThrow({ orderBy: { createdAt: 'desc' } })
    // Active a minute ago (so this request extends it), signed in 59 minutes ago: still in.
    await db.session.update({
      where: { id: session.id },
      data: { createdAt: new Date(Date.now() - 59 * 60_000), lastSeenAt: new Date(Date.now() - 2 * 60_000) },
    })
    expect((await me()).statusCode).toBe(200)
    const extended = await db.session.findUniqueOrThrow({ where: { id: session.id } })
    // Extended for idleness, but never past sign-in + lifetime.
    expect(extended.expiresAt.getTime()).toBeLessThanOrEqual(extended.createdAt.getTime() + 60 * 60_000)
    // Signed in 61 minutes ago, seen just now, expiry in the future: ended all the same.
    await db.session.update({
      where: { id: session.id },
      data: {
        createdAt: new Date(Date.now() - 61 * 60_000),
        lastSeenAt: new Date(),
        expiresAt: new Date(Date.now() + 60 * 60_000),
      },
    })
    expect((await me()).statusCode).toBe(401)
  })
})

describe('first-run setup', () => {
  test('once set up, /api/auth/setup refuses before hashing anything (no scrypt)', async ({ app }) => {
    const body = { email: 'a@example.com', name: 'A', password }
    expect((await app.inject({ method: 'POST', url: '/api/auth/setup', payload: body })).statusCode).toBe(201)
    // Node creates a SCRYPTREQUEST async resource for every crypto.scrypt call: count them.
    let scrypts = 0
    const hook = createHook({
      init(_id, type) {
        if (type === 'SCRYPTREQUEST') scrypts++
      },
    }).enable()
    try {
      const again = await app.inject({
        method: 'POST',
        url: '/api/auth/setup',
        payload: { ...body, email: 'x@example.com' },
      })
      expect(again.statusCode).toBe(409)
    } finally {
      hook.disable()
    }
    expect(scrypts).toBe(0)
  })
})
