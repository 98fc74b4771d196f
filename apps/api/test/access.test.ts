import { randomBytes, randomUUID } from 'node:crypto'
import { ErrorResponse } from '@slipway/contracts'
import { secretContext } from '@slipway/db'
import { mapLimit } from '@slipway/deploy'
import { recordRow } from '@slipway/testing/services'
import type { LightMyRequestResponse } from 'fastify'
import { describe, expect } from 'vitest'
import type { App } from '../src/app.ts'
import { sessionCookie } from '../src/auth/actor.ts'
import { hashPassword, sha256 } from '../src/auth/crypto.ts'
import { casesOf, specialRoutes } from './support/catalog.ts'
import type { PreparedRequest } from './support/catalog-types.ts'
import { publicReads, readCatalog } from './support/read-catalog.ts'
import { discoverRoutes, routeKey } from './support/routes.ts'
import { describeResponse, send, watchChanges } from './support/send.ts'
import { makeProject, makeUser, apiTest as test } from './support/test-app.ts'
import { buildWorld } from './support/world.ts'

const testPath = 'apps/api/test/access.test.ts'
const password = 'a long enough password'

function cookieFrom(response: LightMyRequestResponse): string {
  const raw = response.headers['set-cookie']
  const first = Array.isArray(raw) ? raw[0] : String(raw)
  return (first ?? '').split(';')[0] ?? ''
}

const login = (
  app: App,
  email: string,
  secret: string,
  headers: Record<string, string> = {},
  from?: string,
) =>
  app.inject({
    method: 'POST',
    url: '/api/auth/login',
    headers,
    ...(from ? { remoteAddress: from } : {}),
    payload: { email, password: secret },
  })

const me = (app: App, headers: Record<string, string>) =>
  app.inject({ method: 'GET', url: '/api/auth/me', headers })

/** An instance administrator who can sign in with `password`. */
async function signInAdmin(db: Parameters<typeof makeUser>[0]) {
  const user = await makeUser(db, { isAdmin: true })
  await db.user.update({ where: { id: user.id }, data: { passwordHash: await hashPassword(password) } })
  return user
}

describe('ended credentials', () => {
  test('on every route that needs a signed-in person: expired, revoked, disabled and signed-out credentials are 401 and change nothing', async ({
    app,
    db,
    deps,
    fleet,
  }) => {
    const world = await buildWorld(db, { gitUrl: fleet.demoRepoUrl })
    const live = world.users['instance-admin']!
    const guarded = discoverRoutes(app)
      .map(routeKey)
      .filter((key) => !publicReads.has(key) && !(key in specialRoutes))
    const requests: { key: string; request: PreparedRequest }[] = []
    const missing: string[] = []
    for (const key of guarded) {
      const entry = casesOf(key)[0] ?? casesOf(key, readCatalog)[0]
      if (!entry) missing.push(key)
      else requests.push({ key, request: await entry.prepare({ db, world }, 'instance-admin') })
    }
    expect(missing).toEqual([])

    // Each credential belongs to an instance administrator: alive, it would be allowed everywhere.
    const expired = await makeUser(db, { isAdmin: true })
    await db.apiToken.updateMany({
      where: { userId: expired.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    })

    const revoked = await makeUser(db, { isAdmin: true })
    const tokens = await app.inject({ method: 'GET', url: '/api/tokens', headers: revoked.headers })
    const revokedId = (tokens.json() as { id: string }[])[0]?.id
    const revoke = await app.inject({
      method: 'DELETE',
      url: `/api/tokens/${revokedId}`,
      headers: revoked.headers,
    })
    expect(revoke.statusCode).toBe(200)

    // Disabled by an administrator through the API: the user's API token stays in the table.
    const disabled = await signInAdmin(db)
    const disable = await app.inject({
      method: 'PATCH',
      url: `/api/users/${disabled.id}`,
      headers: live.headers,
      payload: { disabled: true },
    })
    expect(disable.statusCode).toBe(200)

    // A session whose user was disabled behind its back (the API also deletes the sessions).
    const stale = await signInAdmin(db)
    const staleLogin = await login(app, stale.email, password)
    expect(staleLogin.statusCode).toBe(200)
    await db.user.update({ where: { id: stale.id }, data: { disabledAt: new Date() } })

    const leaver = await signInAdmin(db)
    const leaverLogin = await login(app, leaver.email, password)
    const leaverCookie = cookieFrom(leaverLogin)
    const leaverCsrf = leaverLogin.json().csrfToken as string
    const logout = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie: leaverCookie, 'x-csrf-token': leaverCsrf },
    })
    expect(logout.statusCode).toBe(204)

    const dead: [string, Record<string, string>][] = [
      ['an expired API token', expired.headers],
      ['a revoked API token', revoked.headers],
      ['the API token of a disabled user', disabled.headers],
      [
        'the session of a disabled user',
        { cookie: cookieFrom(staleLogin), 'x-csrf-token': staleLogin.json().csrfToken as string },
      ],
      ['a session after sign-out', { cookie: leaverCookie, 'x-csrf-token': leaverCsrf }],
    ]
    const problems: string[] = []
    const changes = await watchChanges(deps)
    const sends = dead.flatMap(([label, headers]) => requests.map((item) => ({ label, headers, ...item })))
    const answers = await mapLimit(sends, 6, ({ key, request, headers }) =>
      send(app, key.split(' ')[0] ?? '', request, headers),
    )
    const sent = answers.length
    for (const [index, response] of answers.entries()) {
      const { key, label } = sends[index]!
      const shape = ErrorResponse.safeParse(JSON.parse(response.body || 'null'))
      if (response.statusCode !== 401 || !shape.success || shape.data.error.code !== 'UNAUTHENTICATED')
        problems.push(`${key} with ${label}: expected 401 UNAUTHENTICATED, got ${describeResponse(response)}`)
    }
    problems.push(...(await changes()).map((change) => `changed ${change}`))
    expect(problems).toEqual([])
    // The same requests with a live credential get past authentication (the matrix checks the rest).
    expect((await me(app, live.headers)).statusCode).toBe(200)

    await recordRow({
      section: 'access',
      id: 'access-dead-credentials',
      done: `Sent a valid request for each of the ${requests.length} routes that need a signed-in person (discovered from the app) with each of ${dead.length} ended credentials of an instance administrator: ${dead.map(([label]) => label).join(', ')}.`,
      expected:
        'Every request is 401 with the stable code UNAUTHENTICATED in the error shape, and no table or queue changes (a full snapshot of every table before and after).',
      observed: `${sent} requests, ${sent} answered 401 UNAUTHENTICATED, database and queues unchanged.`,
      figures: { routes: requests.length, credentials: dead.length, requests: sent },
      test: testPath,
      ci: true,
    })
  })
})

describe('session fixation', () => {
  test('a session id chosen before sign-in is not adopted, and sign-out ends the session on the server', async ({
    app,
    db,
  }) => {
    const user = await signInAdmin(db)
    // The attacker plants a cookie of their choosing in the victim's browser: a made-up id,
    // and the id of a session the attacker opened themself.
    const made = randomBytes(24).toString('hex')
    const attacker = await signInAdmin(db)
    const attackerLogin = await login(app, attacker.email, password)
    const planted = [`${sessionCookie}=${made}`, cookieFrom(attackerLogin)]
    const issued: string[] = []
    for (const cookie of planted) {
      const signedIn = await login(app, user.email, password, { cookie })
      expect(signedIn.statusCode).toBe(200)
      const fresh = cookieFrom(signedIn)
      expect(fresh).toMatch(new RegExp(`^${sessionCookie}=[^;]+$`))
      expect(fresh).not.toBe(cookie)
      issued.push(fresh)
      // The planted cookie is not the victim's session: unknown, or still only the attacker's.
      const withPlanted = await me(app, { cookie })
      if (cookie.endsWith(made)) expect(withPlanted.statusCode).toBe(401)
      else expect(withPlanted.json().user.id).toBe(attacker.id)
      expect((await me(app, { cookie: fresh })).json().user.id).toBe(user.id)
    }
    expect(await db.session.count({ where: { tokenHash: sha256(made) } })).toBe(0)
    expect(new Set(issued).size).toBe(issued.length)

    // Sign-out deletes the session row: the old cookie, replayed, is refused.
    const session = await db.session.findFirstOrThrow({
      where: { userId: user.id },
      orderBy: { createdAt: 'desc' },
    })
    const last = issued.at(-1) ?? ''
    const csrf = (await me(app, { cookie: last })).json().csrfToken as string
    const out = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie: last, 'x-csrf-token': csrf },
    })
    expect(out.statusCode).toBe(204)
    expect(await db.session.findUnique({ where: { id: session.id } })).toBeNull()
    const replayed = await me(app, { cookie: last })
    expect(replayed.statusCode).toBe(401)
    expect(replayed.json().error.code).toBe('UNAUTHENTICATED')
    const replayedWrite = await app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: { cookie: last, 'x-csrf-token': csrf },
      payload: { name: 'after-sign-out' },
    })
    expect(replayedWrite.statusCode).toBe(401)
    expect(await db.apiToken.count({ where: { name: 'after-sign-out' } })).toBe(0)

    await recordRow({
      section: 'access',
      id: 'access-session-fixation',
      done: "Signed in with a session cookie planted beforehand (a made-up id, and the id of the attacker's own session), then signed out and replayed the old cookie on a read and a write.",
      expected:
        "Sign-in always issues a new session id; the planted cookie stays unauthenticated (or stays the attacker's own session); sign-out deletes the session on the server, so the replayed cookie is 401 and writes nothing.",
      observed: `${planted.length} sign-ins issued ${issued.length} new distinct ids, planted cookies not adopted; after sign-out the session row was gone and the replayed cookie got 401 on GET /api/auth/me and POST /api/tokens.`,
      test: testPath,
      ci: true,
    })
  })
})

describe('guessing', () => {
  test('login and webhook-token guessing are throttled per address, bursts included, without locking out anyone else', async ({
    app,
    db,
    deps,
    redis,
    redisPrefix,
  }) => {
    const guesser = '203.0.113.77'
    const elsewhere = '198.51.100.78'
    const owner = await signInAdmin(db)
    // Sign-in: one address guessing across 40 accounts at once. The per-address counter lets 30 through.
    const logins = await Promise.all(
      Array.from({ length: 40 }, (_, i) => login(app, `nobody-${i}@example.com`, `guess ${i}`, {}, guesser)),
    )
    const loginStatuses = logins.map((response) => response.statusCode)
    expect(loginStatuses.filter((status) => status === 401)).toHaveLength(30)
    expect(loginStatuses.filter((status) => status === 429)).toHaveLength(10)
    expect(logins.find((response) => response.statusCode === 429)?.json().error).toMatchObject({
      code: 'RATE_LIMITED',
      details: { scope: 'login', retryAfterSeconds: expect.any(Number) },
    })
    expect((await login(app, owner.email, password, {}, elsewhere)).statusCode).toBe(200)

    // Webhook: one address guessing one project's secret with 40 tokens at once.
    const secret = `hook-${randomBytes(12).toString('hex')}`
    const project = await makeProject(db)
    await db.project.update({
      where: { id: project.id },
      data: {
        webhookSecretEnc: deps.secrets.encrypt(secret, secretContext.projectWebhookSecret(project.id)),
      },
    })
    const deliver = (token: string, from: string) =>
      app.inject({
        method: 'POST',
        url: `/api/webhooks/gitlab/${project.id}`,
        remoteAddress: from,
        headers: {
          'x-gitlab-token': token,
          'x-gitlab-event': 'Note Hook',
          'x-gitlab-event-uuid': randomUUID(),
        },
        payload: { object_kind: 'note' },
      })
    const changes = await watchChanges(deps)
    // 120 guesses at once, the right token riding last: counted after them, it must not get through.
    const burst = await Promise.all([
      ...Array.from({ length: 120 }, (_, i) => deliver(`guess-${i}`, guesser)),
      deliver(secret, guesser),
    ])
    const guesses = burst.slice(0, 120)
    const lucky = burst[120]
    const hookStatuses = guesses.map((response) => response.statusCode)
    expect(await changes()).toEqual([])
    expect(hookStatuses.filter((status) => status === 401)).toHaveLength(20)
    expect(hookStatuses.filter((status) => status === 429)).toHaveLength(100)
    expect(lucky?.statusCode).toBe(429)
    // Tokens compared at all: the burst counter's free tries, no more.
    const compared = await redis.hget(
      `${redisPrefix}:rl:backoff:webhook-fail:${project.id}:${guesser}`,
      'count',
    )
    expect(Number(compared)).toBeGreaterThanOrEqual(20)
    expect(Number(compared)).toBeLessThanOrEqual(100)
    const gitlab = await deliver(secret, elsewhere)
    expect(gitlab.statusCode).toBe(200)
    expect(gitlab.json().outcome).toBe('ignored')

    await recordRow({
      section: 'access',
      id: 'access-guessing-throttled',
      done: 'From one address, 40 sign-in guesses at once across 40 accounts; 120 webhook deliveries at once with wrong X-Gitlab-Token values for one project and, last in the same burst, the right token. Then the right password of a real account and the right token from another address.',
      expected:
        'Every guess is counted before it is checked: sign-in lets 30 guesses per address through (5 per account and address) and the webhook compares at most 100 tokens of a burst (deliveries in flight or failed, per project and address) and answers 401 to 20 wrong ones per 10 minutes; the rest are 429 RATE_LIMITED, the right token sent last in the burst too, while another address signs in and delivers at once. Wrong webhook tokens change nothing.',
      observed: `Sign-in: ${loginStatuses.filter((s) => s === 401).length} x 401, ${loginStatuses.filter((s) => s === 429).length} x 429, the owner from another address 200. Webhook: ${hookStatuses.filter((s) => s === 401).length} x 401, ${hookStatuses.filter((s) => s === 429).length} x 429 (${compared} tokens compared), nothing changed; the right token last in the burst 429, from another address 200 (ignored Note Hook).`,
      figures: {
        'login guesses': logins.length,
        'login 429': loginStatuses.filter((s) => s === 429).length,
        'webhook guesses': guesses.length,
        'webhook 429': hookStatuses.filter((s) => s === 429).length,
      },
      test: testPath,
      ci: true,
    })
  })
})
