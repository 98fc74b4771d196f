import { randomBytes } from 'node:crypto'
import { decideApproval, decideInstance, decideProject } from '@slipway/policy'
import { recordRow } from '@slipway/testing/services'
import type { LightMyRequestResponse } from 'fastify'
import { describe, expect } from 'vitest'
import type { App } from '../src/app.ts'
import { sessionCookie } from '../src/auth/actor.ts'
import { sha256 } from '../src/auth/crypto.ts'
import { casesOf, catalog, specialRoutes } from './support/catalog.ts'
import type { AccessRule, PreparedRequest, RouteCase } from './support/catalog-types.ts'
import { publicReads, readCatalog } from './support/read-catalog.ts'
import { discoverRoutes, fastifyPath, mutatingMethods, routeKey } from './support/routes.ts'
import { describeResponse, send, watchChanges } from './support/send.ts'
import { apiTest as test } from './support/test-app.ts'
import { buildWorld, everyone, isRole, type Who, type World } from './support/world.ts'

type Expected = { allowed: true } | { allowed: false; status: number; code: string }

const allowed: Expected = { allowed: true }
const refused = (status: number, code: string): Expected => ({ allowed: false, status, code })

/** What @slipway/policy says a person may do, as the HTTP answer it implies. */
function expectedFor(rule: AccessRule, who: Who, world: World): Expected {
  if (who === 'anonymous') return refused(401, 'UNAUTHENTICATED')
  const subject = { isAdmin: who === 'instance-admin', role: isRole(who) ? who : undefined }
  const verdict = (decision: { allowed: boolean }) => (decision.allowed ? allowed : refused(403, 'FORBIDDEN'))
  switch (rule.kind) {
    case 'self':
      return allowed
    case 'instance':
      return verdict(decideInstance(subject, rule.action))
    case 'project':
      // Non-members are not told that the project exists.
      if (!subject.isAdmin && !subject.role) return refused(404, 'NOT_FOUND')
      return verdict(decideProject(subject, rule.action, rule.context))
    case 'approval': {
      if (!subject.isAdmin && !subject.role) return refused(404, 'NOT_FOUND')
      const approver = world.users[who]?.id ?? ''
      return verdict(
        decideApproval(subject, {
          triggeredByUserId: rule.ownPipeline ? approver : world.target.id,
          approverUserId: approver,
          allowSelfApproval: false,
          alreadyApprovedBy: [],
        }),
      )
    }
  }
}

const ruleName = (rule: AccessRule): string =>
  rule.kind === 'project' || rule.kind === 'instance'
    ? rule.action
    : rule.kind === 'approval'
      ? 'approval.decide'
      : 'own things'

/** What the matrix sent, over every test of this file, for the report row. */
const tally = { routes: new Set<string>(), cases: 0, problems: [] as string[] }

/**
 * One answer from a read route: a live stream (Server-Sent Events) is closed as soon as its
 * status is known, so an allowed person's stream does not hold the test.
 */
async function sendRead(
  app: App,
  request: PreparedRequest,
  headers: Record<string, string> = {},
): Promise<{ status: number; code: string | undefined; text: string }> {
  const abort = new AbortController()
  const response: LightMyRequestResponse = await app.inject({
    method: 'GET',
    url: request.url,
    headers,
    payloadAsStream: true,
    signal: abort.signal,
  })
  if (String(response.headers['content-type']).startsWith('text/event-stream')) {
    response.stream().destroy()
    abort.abort()
    return { status: response.statusCode, code: undefined, text: `${response.statusCode} (a live stream)` }
  }
  const chunks: Buffer[] = []
  for await (const chunk of response.stream()) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks).toString('utf8')
  let code: string | undefined
  try {
    code = (JSON.parse(body) as { error?: { code?: string } }).error?.code
  } catch {
    code = undefined
  }
  return {
    status: response.statusCode,
    code,
    text: `${response.statusCode} ${code ?? ''} ${body.slice(0, 160)}`,
  }
}

describe('permission matrix: every mutating route × every person', () => {
  test('every mutating route the app serves has a matrix entry', async ({ app }) => {
    const routes = discoverRoutes(app)
    // The route discovery sees at least every documented route.
    const discovered = new Set(routes.map((route) => route.url))
    const documented = Object.keys(app.swagger().paths ?? {}).map(fastifyPath)
    expect(documented.filter((path) => !discovered.has(path))).toEqual([])

    const mutating = routes.filter((route) => mutatingMethods.has(route.method)).map(routeKey)
    const covered = [...Object.keys(catalog), ...Object.keys(specialRoutes)]
    const problems = [
      ...mutating.filter((key) => !covered.includes(key)).map((key) => `route ${key} has no matrix entry`),
      ...covered
        .filter((key) => !mutating.includes(key))
        .map((key) => `matrix entry ${key} matches no route`),
    ]
    expect(problems).toEqual([])
  })

  const cases = Object.keys(catalog).flatMap((key) => casesOf(key).map((entry) => ({ key, entry })))
  for (const { key, entry } of cases) {
    const [method = '', path = ''] = key.split(' ')
    test(`${key} (${ruleName(entry.rule)}${entry.label ? `, ${entry.label}` : ''})`, async ({
      app,
      db,
      deps,
      fleet,
    }) => {
      const world = await buildWorld(db, { gitUrl: fleet.demoRepoUrl })
      const problems: string[] = []
      tally.routes.add(key)
      for (const who of everyone) {
        tally.cases++
        const request = await entry.prepare({ db, world }, who)
        expect(request.url.split('/').length, `${path} filled for ${who}`).toBe(path.split('/').length)
        const expected = expectedFor(entry.rule, who, world)
        const lastAudit = await db.auditEvent.findFirst({ orderBy: { id: 'desc' } })
        const changes = await watchChanges(deps)
        const response = await send(app, method, request, world.users[who]?.headers)
        const changed = await changes()
        const got = describeResponse(response)
        if (expected.allowed) {
          if (response.statusCode < 200 || response.statusCode > 299) {
            problems.push(`${who}: expected 2xx, got ${got}`)
            continue
          }
          if (entry.audited === false) continue
          const audit = await db.auditEvent.findFirst({ orderBy: { id: 'desc' } })
          if (!audit || audit.id === lastAudit?.id) problems.push(`${who}: allowed, but no audit event`)
          else if (audit.actorUserId !== world.users[who]?.id)
            problems.push(`${who}: audit event attributed to ${audit.actorLabel}`)
        } else {
          const code = (response.json() as { error?: { code?: string } }).error?.code
          if (response.statusCode !== expected.status || code !== expected.code)
            problems.push(`${who}: expected ${expected.status} ${expected.code}, got ${got}`)
          if (changed.length) problems.push(`${who}: refused, yet changed ${changed.join('; ')}`)
        }
      }
      tally.problems.push(...problems.map((problem) => `${key}: ${problem}`))
      expect(problems).toEqual([])
    })
  }
})

describe('permission matrix: every read route × every person', () => {
  test('every read route the app serves has a read matrix entry', async ({ app }) => {
    const reads = discoverRoutes(app)
      .filter((route) => route.method === 'GET')
      .map(routeKey)
    const covered = [...Object.keys(readCatalog), ...publicReads]
    expect([
      ...reads.filter((key) => !covered.includes(key)).map((key) => `route ${key} has no read matrix entry`),
      ...covered.filter((key) => !reads.includes(key)).map((key) => `read entry ${key} matches no route`),
    ]).toEqual([])
  })

  test('each person reads what their role allows; others get 401, 403 or 404, and nothing changes', async ({
    app,
    db,
    deps,
    fleet,
  }) => {
    const world = await buildWorld(db, { gitUrl: fleet.demoRepoUrl })
    const sends: { key: string; who: Who; entry: RouteCase; request: PreparedRequest }[] = []
    for (const key of Object.keys(readCatalog)) {
      for (const entry of casesOf(key, readCatalog)) {
        for (const who of everyone)
          sends.push({ key, who, entry, request: await entry.prepare({ db, world }, who) })
      }
    }
    const problems: string[] = []
    const changes = await watchChanges(deps)
    for (const { key, who, entry, request } of sends) {
      tally.routes.add(key)
      tally.cases++
      const expected = expectedFor(entry.rule, who, world)
      const got = await sendRead(app, request, world.users[who]?.headers)
      if (expected.allowed) {
        const ok = entry.allowedCode ? got.code === entry.allowedCode : got.status >= 200 && got.status <= 299
        if (!ok) problems.push(`${key} ${who}: expected ${entry.allowedCode ?? '2xx'}, got ${got.text}`)
      } else if (got.status !== expected.status || got.code !== expected.code) {
        problems.push(`${key} ${who}: expected ${expected.status} ${expected.code}, got ${got.text}`)
      }
    }
    problems.push(...(await changes()).map((change) => `reads changed ${change}`))
    tally.problems.push(...problems)
    expect(problems).toEqual([])
  })
})

describe('the access matrix as a whole', () => {
  test('every route was asked by every person, and every answer was the expected one', async ({ app }) => {
    const served = discoverRoutes(app).map(routeKey)
    const guarded = served.filter((key) => !publicReads.has(key) && !(key in specialRoutes))
    expect(tally.problems).toEqual([])
    expect(guarded.filter((key) => !tally.routes.has(key))).toEqual([])
    await recordRow({
      section: 'access',
      id: 'access-matrix',
      done: `Sent a valid request for every route that needs a signed-in person (${guarded.length} of the ${served.length} routes the API serves, discovered from the app) as each of ${everyone.length} people: anonymous, a non-member, each project role (viewer, tester, developer, maintainer, admin) and an instance administrator.`,
      expected:
        'What @slipway/policy allows is answered 2xx (and audited when it writes); anonymous gets 401 UNAUTHENTICATED, a non-member 404 NOT_FOUND (the project is not disclosed), a member without the role 403 FORBIDDEN; a refused request changes no table and no queue.',
      observed: `${tally.cases} requests over ${tally.routes.size} routes (variants included, e.g. protected and unprotected environments), every answer as expected, nothing changed by a refusal.`,
      figures: { routes: tally.routes.size, people: everyone.length, cases: tally.cases },
      test: 'apps/api/test/permissions.test.ts',
      ci: true,
    })
  })
})

/** Writes signed in by the session cookie need X-CSRF-Token, on every mutating route. */
const csrfExempt = new Set(Object.keys(specialRoutes))

/** A session of `userId` stored directly: its cookie value and its CSRF token. */
async function makeSession(db: Parameters<typeof buildWorld>[0], userId: string) {
  const cookie = randomBytes(24).toString('hex')
  const csrf = randomBytes(24).toString('hex')
  await db.session.create({
    data: { userId, tokenHash: sha256(cookie), csrfToken: csrf, expiresAt: new Date(Date.now() + 3_600_000) },
  })
  return { cookie: `${sessionCookie}=${cookie}`, csrf }
}

const reasonOf = (response: LightMyRequestResponse) =>
  (response.json() as { error?: { details?: { reason?: string } } }).error?.details?.reason

describe('CSRF', () => {
  test('every cookie-authenticated write needs its own session’s X-CSRF-Token; a bearer token needs none', async ({
    app,
    db,
    deps,
    fleet,
  }) => {
    const world = await buildWorld(db, { gitUrl: fleet.demoRepoUrl })
    const admin = world.users['instance-admin']!
    // The attacker's own session: its CSRF token is genuine, for the wrong session.
    const attacker = await makeSession(db, world.users['non-member']!.id)
    const problems: string[] = []
    const routes = discoverRoutes(app).filter((route) => mutatingMethods.has(route.method))
    const checked = routes.map(routeKey).filter((key) => !csrfExempt.has(key))
    let refusals = 0
    for (const key of checked) {
      const entry = casesOf(key)[0]
      if (!entry) {
        problems.push(`route ${key} has no matrix entry`)
        continue
      }
      const [method = ''] = key.split(' ')
      const session = await makeSession(db, admin.id)
      const headers = { cookie: session.cookie }
      const request = await entry.prepare({ db, world }, 'instance-admin')
      const changes = await watchChanges(deps)
      for (const [label, csrf] of [
        ['without X-CSRF-Token', undefined],
        ['with a wrong X-CSRF-Token', `${session.csrf.slice(1)}x`],
        ["with another session's X-CSRF-Token", attacker.csrf],
      ] as const) {
        const forged = await send(app, method, request, csrf ? { ...headers, 'x-csrf-token': csrf } : headers)
        refusals++
        if (forged.statusCode !== 403 || reasonOf(forged) !== 'csrf')
          problems.push(`${key} ${label}: expected 403 (csrf), got ${describeResponse(forged)}`)
      }
      const changed = await changes()
      if (changed.length) problems.push(`${key} refused for CSRF, yet changed ${changed.join('; ')}`)
      const genuine = await send(app, method, request, { ...headers, 'x-csrf-token': session.csrf })
      if (genuine.statusCode < 200 || genuine.statusCode > 299)
        problems.push(`${key} with X-CSRF-Token: expected 2xx, got ${describeResponse(genuine)}`)
      // A token of its own: changing the password through the session revoked the others.
      const token = `slp_csrf_${randomBytes(16).toString('hex')}`
      await db.apiToken.create({
        data: { userId: admin.id, name: token, prefix: token.slice(0, 20), tokenHash: sha256(token) },
      })
      const again = await entry.prepare({ db, world }, 'instance-admin')
      const bearer = await send(app, method, again, { authorization: `Bearer ${token}` })
      if (bearer.statusCode < 200 || bearer.statusCode > 299)
        problems.push(
          `${key} with a bearer token and no X-CSRF-Token: expected 2xx, got ${describeResponse(bearer)}`,
        )
    }
    expect(problems).toEqual([])
    await recordRow({
      section: 'access',
      id: 'access-csrf',
      done: `Every write route the app serves that a session cookie can authenticate (${checked.length}, discovered from the app; sign-in, first-run setup and the GitLab webhook take no session) was sent by an instance administrator's session without X-CSRF-Token, with a wrong one and with another session's genuine one; then with the right one, and with an API token and no X-CSRF-Token.`,
      expected:
        'The three forged writes are 403 FORBIDDEN (reason csrf) and change no table and no queue; the session with its own token and the bearer token without one are both accepted.',
      observed: `${refusals} forged writes over ${checked.length} routes refused with 403 csrf, nothing changed; ${checked.length} writes with the session's token and ${checked.length} with a bearer token accepted.`,
      figures: { routes: checked.length, forged: refusals },
      test: 'apps/api/test/permissions.test.ts',
      ci: true,
    })
  })
})
