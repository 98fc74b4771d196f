import { describe, expect } from 'vitest'
import { makeUser, apiTest as test } from '../../test/support/test-app.ts'

function cookieFrom(response: { headers: Record<string, unknown> }): string {
  const raw = response.headers['set-cookie']
  const first = Array.isArray(raw) ? raw[0] : String(raw)
  return first.split(';')[0] as string
}

describe('first-run setup and sessions', () => {
  test('setup creates the first admin once, then refuses', async ({ app, db }) => {
    expect((await app.inject({ method: 'GET', url: '/api/auth/status' })).json()).toEqual({
      setupRequired: true,
    })
    const body = { email: 'Admin@Example.com', name: 'Admin', password: 'correct horse battery' }
    const created = await app.inject({ method: 'POST', url: '/api/auth/setup', payload: body })
    expect(created.statusCode).toBe(201)
    expect(created.json().user).toMatchObject({ email: 'admin@example.com', isAdmin: true })
    const setCookie = String(created.headers['set-cookie'])
    expect(setCookie).toMatch(/HttpOnly/i)
    expect(setCookie).toMatch(/SameSite=Lax/i)

    const again = await app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { ...body, email: 'x@example.com' },
    })
    expect(again.statusCode).toBe(409)
    expect(again.json().error.code).toBe('CONFLICT')
    expect(await db.user.count()).toBe(1)
    const user = await db.user.findFirstOrThrow()
    expect(user.passwordHash).toMatch(/^scrypt\$/)
    expect(user.passwordHash).not.toContain('correct horse')
    expect(await db.auditEvent.count({ where: { action: 'user.setup' } })).toBe(1)
  })

  test('login, me, CSRF on writes, logout', async ({ app }) => {
    await app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'a@example.com', name: 'A', password: 'a long password' },
    })
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'a@example.com', password: 'nope' },
    })
    expect(wrong.statusCode).toBe(401)
    expect(wrong.json().error).toEqual({ code: 'UNAUTHENTICATED', message: 'wrong email or password' })

    const login = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'a@example.com', password: 'a long password' },
    })
    expect(login.statusCode).toBe(200)
    const cookie = cookieFrom(login)
    const { csrfToken } = login.json()
    expect(csrfToken).toBeTruthy()

    const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } })
    expect(me.json()).toMatchObject({ user: { email: 'a@example.com' }, via: 'session', csrfToken })

    const noCsrf = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: { cookie },
      payload: { name: 'ci' },
    })
    expect(noCsrf.statusCode).toBe(403)
    expect(noCsrf.json().error.details).toEqual({ reason: 'csrf' })

    const withCsrf = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: { cookie, 'x-csrf-token': csrfToken },
      payload: { name: 'ci' },
    })
    expect(withCsrf.statusCode).toBe(201)

    const logout = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie, 'x-csrf-token': csrfToken },
    })
    expect(logout.statusCode).toBe(204)
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } })).statusCode).toBe(
      401,
    )
  })

  test('wrong passwords slow one address down, never lock the account for everyone', async ({
    app,
    redis,
    redisPrefix,
  }) => {
    await app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'b@example.com', name: 'B', password: 'a long password' },
    })
    const login = (password: string, remoteAddress: string) =>
      app.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress,
        payload: { email: 'b@example.com', password },
      })
    const attacker = '203.0.113.9'
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) statuses.push((await login(`wrong ${i}`, attacker)).statusCode)
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429])
    const waiting = await login('a long password', attacker)
    expect(waiting.statusCode).toBe(429)
    expect(waiting.json().error).toMatchObject({
      code: 'RATE_LIMITED',
      details: { scope: 'login', retryAfterSeconds: expect.any(Number) },
    })
    // The owner, from another address, signs in at once: the attacker slowed only themself.
    expect((await login('a long password', '198.51.100.20')).statusCode).toBe(200)
    // And it is a wait, not a lock: once the wait has passed (moved back here), the right password works.
    const pairKey = `${redisPrefix}:rl:backoff:login:${attacker}:b@example.com`
    expect(await redis.hget(pairKey, 'count')).toBe('5')
    await redis.hset(pairKey, 'at', 0)
    expect((await login('a long password', attacker)).statusCode).toBe(200)
    expect(await redis.exists(pairKey)).toBe(0)
  })

  test('parallel guesses are counted before they are checked: a burst gets the free tries only', async ({
    app,
  }) => {
    await app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'c@example.com', name: 'C', password: 'a long password' },
    })
    const burst = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.inject({
          method: 'POST',
          url: '/api/auth/login',
          remoteAddress: '203.0.113.10',
          payload: { email: 'c@example.com', password: `guess ${i}` },
        }),
      ),
    )
    const statuses = burst.map((response) => response.statusCode).sort()
    expect(statuses.filter((status) => status === 401)).toHaveLength(5)
    expect(statuses.filter((status) => status === 429)).toHaveLength(15)
  })
})

describe('API tokens', () => {
  test('are shown once, stored hashed, work as bearer tokens and can be revoked', async ({ app, db }) => {
    const user = await makeUser(db)
    const created = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: user.headers,
      payload: { name: 'deploy-bot', expiresInDays: 30 },
    })
    expect(created.statusCode).toBe(201)
    const { token, id } = created.json()
    expect(token).toMatch(/^slp_/)
    const row = await db.apiToken.findUniqueOrThrow({ where: { id } })
    expect(row.tokenHash).not.toContain(token)
    expect(
      JSON.stringify(
        await app.inject({ method: 'GET', url: '/api/tokens', headers: user.headers }).then((r) => r.json()),
      ),
    ).not.toContain(token)

    const bearer = { authorization: `Bearer ${token}` }
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer })).json().via).toBe(
      'token',
    )
    expect(
      (await app.inject({ method: 'DELETE', url: `/api/tokens/${id}`, headers: user.headers })).statusCode,
    ).toBe(200)
    const revoked = await app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer })
    expect(revoked.statusCode).toBe(401)
    expect(revoked.json().error.message).toMatch(/invalid, expired or revoked/)
  })

  test('an expired token is refused', async ({ app, db }) => {
    const user = await makeUser(db)
    await db.apiToken.updateMany({
      where: { userId: user.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    })
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: user.headers })).statusCode).toBe(
      401,
    )
  })
})
