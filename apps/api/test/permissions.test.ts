import { randomBytes } from 'node:crypto'
import { decideApproval, decideInstance, decideProject } from '@slipway/policy'
import { describe, expect } from 'vitest'
import { sessionCookie } from '../src/auth/actor.ts'
import { sha256 } from '../src/auth/crypto.ts'
import { casesOf, catalog, specialRoutes } from './support/catalog.ts'
import type { AccessRule } from './support/catalog-types.ts'
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
      for (const who of everyone) {
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
      expect(problems).toEqual([])
    })
  }
})

/** Writes signed in by the session cookie need X-CSRF-Token, on every mutating route. */
const csrfExempt = new Set(Object.keys(specialRoutes))

describe('CSRF', () => {
  test('a cookie-authenticated write without X-CSRF-Token is refused on every mutating route', async ({
    app,
    db,
    deps,
    fleet,
  }) => {
    const world = await buildWorld(db, { gitUrl: fleet.demoRepoUrl })
    const admin = world.users['instance-admin']!
    const problems: string[] = []
    const routes = discoverRoutes(app).filter((route) => mutatingMethods.has(route.method))
    for (const key of routes.map(routeKey).filter((key) => !csrfExempt.has(key))) {
      const entry = casesOf(key)[0]
      if (!entry) {
        problems.push(`route ${key} has no matrix entry`)
        continue
      }
      const [method = ''] = key.split(' ')
      const cookie = randomBytes(24).toString('hex')
      const csrf = randomBytes(24).toString('hex')
      await db.session.create({
        data: {
          userId: admin.id,
          tokenHash: sha256(cookie),
          csrfToken: csrf,
          expiresAt: new Date(Date.now() + 3_600_000),
        },
      })
      const headers = { cookie: `${sessionCookie}=${cookie}` }
      const request = await entry.prepare({ db, world }, 'instance-admin')
      const changes = await watchChanges(deps)
      const forged = await send(app, method, request, headers)
      const changed = await changes()
      const reason = (forged.json() as { error?: { details?: { reason?: string } } }).error?.details?.reason
      if (forged.statusCode !== 403 || reason !== 'csrf')
        problems.push(`${key} without X-CSRF-Token: expected 403 (csrf), got ${describeResponse(forged)}`)
      if (changed.length) problems.push(`${key} without X-CSRF-Token changed ${changed.join('; ')}`)
      const wrong = await send(app, method, request, { ...headers, 'x-csrf-token': `${csrf.slice(1)}x` })
      if (wrong.statusCode !== 403)
        problems.push(`${key} with a wrong X-CSRF-Token: ${describeResponse(wrong)}`)
      const genuine = await send(app, method, request, { ...headers, 'x-csrf-token': csrf })
      if (genuine.statusCode < 200 || genuine.statusCode > 299)
        problems.push(`${key} with X-CSRF-Token: expected 2xx, got ${describeResponse(genuine)}`)
    }
    expect(problems).toEqual([])
  })
})
