import { randomBytes } from 'node:crypto'
import { ErrorResponse, WebhookReply } from '@slipway/contracts'
import { mapLimit } from '@slipway/deploy'
import { recordRow } from '@slipway/testing/services'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { describe, expect } from 'vitest'
import type { App } from '../src/app.ts'
import { sha256 } from '../src/auth/crypto.ts'
import { edgeTexts, type FuzzRequest, harmless, malformed, textParams } from './support/fuzz-arbitraries.ts'
import {
  type FieldRequest,
  hostileFieldRequests,
  mayKeepText,
  notEchoed,
  sentValue,
} from './support/fuzz-fields.ts'
import { type Existing, type RouteModel, routeModels } from './support/fuzz-model.ts'
import { pushHook } from './support/gitlab-fixtures.ts'
import { fillPath } from './support/routes.ts'
import { watchChanges } from './support/send.ts'
import { changedTables, dbSnapshot, redisKeys } from './support/snapshot.ts'
import { apiTest } from './support/test-app.ts'
import { buildWorld, type World } from './support/world.ts'

/** What the field-by-field pass sent, for the report row. */
const fieldFuzz = { routes: 0, requests: 0, kept: 0, textWrites: 0, models: 0 }

/** Bounds: runs per route and in all, and how long one answer may take. */
const runsPerRoute = 4
const answerWithinMs = 10_000

/** The statuses each stable code may come with. */
const statusesOf: Record<string, number[]> = {
  VALIDATION_FAILED: [400, 415],
  UNAUTHENTICATED: [401],
  FORBIDDEN: [403],
  NOT_FOUND: [404],
  CONFLICT: [409],
  PAYLOAD_TOO_LARGE: [413],
  RATE_LIMITED: [429],
}

/** Every answer the fuzz got, by status, over all tests of this file (for the report row). */
const answered: Record<string, number> = {}

async function answer(app: App, request: FuzzRequest): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${answerWithinMs} ms`)), answerWithinMs)
  })
  try {
    const response = await Promise.race([
      app.inject({
        method: request.method as 'GET',
        url: request.url,
        headers: request.headers,
        ...(request.payload === undefined ? {} : { payload: request.payload }),
      }),
      hang,
    ])
    answered[response.statusCode] = (answered[response.statusCode] ?? 0) + 1
    return response
  } finally {
    clearTimeout(timer)
  }
}

/** Problems with an error answer: not JSON, not the error shape, a code that does not fit the status. */
function errorShapeProblems(response: LightMyRequestResponse): string[] {
  if (!String(response.headers['content-type']).startsWith('application/json'))
    return [`content-type ${response.headers['content-type']}: ${response.body.slice(0, 200)}`]
  const parsed = ErrorResponse.safeParse(JSON.parse(response.body))
  if (!parsed.success) return [`not the error shape: ${response.body.slice(0, 200)}`]
  const { code } = parsed.data.error
  return statusesOf[code]?.includes(response.statusCode) ? [] : [`${code} with status ${response.statusCode}`]
}

const describeRequest = (r: FuzzRequest) =>
  `${r.method} ${r.url.slice(0, 160)} (${r.why}; content-type ${r.headers['content-type'] ?? '-'})`

/** The world plus one of everything a path can name, all created before anything is measured. */
async function fuzzWorld(db: Parameters<typeof buildWorld>[0], gitUrl: string) {
  const world = await buildWorld(db, { gitUrl })
  const pipeline = await db.pipeline.create({
    data: {
      projectId: world.project.id,
      number: 1,
      ref: 'main',
      commitSha: randomBytes(20).toString('hex'),
      trigger: 'manual',
      status: 'failed',
      stages: { create: [{ position: 0, kind: 'build', status: 'failed' }] },
    },
    include: { stages: true },
  })
  const hook = await db.notificationHook.create({
    data: { projectId: world.project.id, url: 'http://127.0.0.1:9/hook', secretEnc: 'unused' },
  })
  const admin = world.users['instance-admin']!
  const token = await db.apiToken.findFirstOrThrow({ where: { userId: admin.id } })
  const existing: Existing = {
    project: world.project,
    environment: world.environment.name,
    userId: world.target.id,
    tokenId: token.id,
    hostId: world.host.id,
    registryId: world.registry.id,
    pipelineId: pipeline.id,
    stageId: pipeline.stages[0]?.id ?? '',
    hookId: hook.id,
    hostName: (await db.host.findUniqueOrThrow({ where: { id: world.host.id } })).name,
  }
  return { world, existing, auth: admin.headers.authorization }
}

const test = apiTest.extend<{ fuzz: { world: World; models: RouteModel[]; auth: string } }>({
  fuzz: async ({ app, db, fleet }, use) => {
    const { world, existing, auth } = await fuzzWorld(db, fleet.demoRepoUrl)
    await use({ world, auth, models: await routeModels(app, { db, world }, existing) })
  },
})

describe('fuzz: hostile values in every field of every route', () => {
  test('each is refused with a 4xx in the error shape (a read may find nothing), and no table changes', async ({
    app,
    db,
    deps,
    fuzz,
  }) => {
    const problems: string[] = []
    const routes = new Set<string>()
    const kept: { route: RouteModel; request: FieldRequest }[] = []
    const refused: FieldRequest[] = []
    for (const route of fuzz.models) {
      for (const request of hostileFieldRequests(route, fuzz.auth)) {
        routes.add(route.key)
        if (mayKeepText(request)) kept.push({ route, request })
        else refused.push(request)
      }
    }
    const tablesBefore = await dbSnapshot(db)
    const keysBefore = await redisKeys(deps.redis, deps.redisPrefix)
    const responses = await mapLimit(refused, 4, (request) => answer(app, request))
    for (const [index, response] of responses.entries()) {
      const request = refused[index]!
      const status = response.statusCode
      const found =
        status >= 400 && status < 500
          ? errorShapeProblems(response)
          : request.method === 'GET' && status >= 200 && status < 300
            ? []
            : [`status ${status}: ${response.body.slice(0, 200)}`]
      if (found.length) problems.push(`${describeRequest(request)}: ${found.join('; ')}`)
    }
    const keysAfter = await redisKeys(deps.redis, deps.redisPrefix)
    problems.push(
      ...changedTables(tablesBefore, await dbSnapshot(db)).map((change) => `changed ${change}`),
      ...keysAfter.filter((key) => !keysBefore.includes(key)).map((key) => `redis key ${key} added`),
    )
    expect(problems).toEqual([])

    // A right-to-left override or a zero-width space in a write: refused, or kept exactly as sent.
    const admin = fuzz.world.users['instance-admin']!
    const passwordLast = (item: { request: FieldRequest }) =>
      Number(item.request.field === 'body.newPassword')
    let keptCount = 0
    for (const { route, request } of kept.sort((a, b) => passwordLast(a) - passwordLast(b))) {
      // A token per request: a password change revokes the others.
      const token = `slp_fuzz_${randomBytes(16).toString('hex')}`
      await db.apiToken.create({
        data: { userId: admin.id, name: token, prefix: token.slice(0, 20), tokenHash: sha256(token) },
      })
      const response = await answer(app, {
        ...request,
        headers: { ...request.headers, authorization: `Bearer ${token}` },
      })

      const status = response.statusCode
      if (status >= 400 && status < 500) {
        const found = errorShapeProblems(response)
        if (found.length) problems.push(`${describeRequest(request)}: ${found.join('; ')}`)
      } else if (status < 200 || status > 299) {
        problems.push(`${describeRequest(request)}: status ${status}: ${response.body.slice(0, 200)}`)
      } else {
        keptCount++
        if (!notEchoed(route, request) && !response.body.includes(sentValue(request) ?? ''))
          problems.push(
            `${describeRequest(request)}: accepted, but the answer does not hold the text as sent`,
          )
      }
    }
    expect(problems).toEqual([])
    fieldFuzz.routes = routes.size
    fieldFuzz.models = fuzz.models.length
    fieldFuzz.requests = refused.length + kept.length
    fieldFuzz.kept = keptCount
    fieldFuzz.textWrites = kept.length
  })
})

describe('fuzz: malformed requests to every route', () => {
  test('are refused with a 4xx in the error shape, quickly, and change nothing', async ({
    app,
    deps,
    fuzz,
  }) => {
    expect(fuzz.models.length).toBeGreaterThan(40)
    const changes = await watchChanges(deps)
    for (const route of fuzz.models) {
      await fc.assert(
        fc.asyncProperty(malformed(route, fuzz.auth), async (request) => {
          const response = await answer(app, request)
          const problems =
            response.statusCode >= 400 && response.statusCode < 500
              ? errorShapeProblems(response)
              : [`status ${response.statusCode}: ${response.body.slice(0, 200)}`]
          problems.push(...(await changes()).map((change) => `changed ${change}`))
          if (problems.length) throw new Error(`${describeRequest(request)}: ${problems.join('; ')}`)
        }),
        { numRuns: runsPerRoute },
      )
    }
  })

  test('junk query parameters and headers on read routes are never a 5xx and change nothing', async ({
    app,
    deps,
    fuzz,
  }) => {
    const reads = fuzz.models.filter(
      (r) =>
        r.method === 'GET' &&
        !r.stream &&
        r.existing !== undefined &&
        r.url !== '/readyz' &&
        // Its valid request asks the (absent) Docker daemon behind the world's host: a 503.
        !r.url.endsWith('/:containerId/logs'),
    )
    expect(reads.length).toBeGreaterThan(20)
    const changes = await watchChanges(deps)
    const check = async (request: FuzzRequest) => {
      const response = await answer(app, request)
      const problems =
        response.statusCode >= 500
          ? [`status ${response.statusCode}: ${response.body.slice(0, 200)}`]
          : response.statusCode >= 400
            ? errorShapeProblems(response)
            : []
      problems.push(...(await changes()).map((change) => `changed ${change}`))
      return problems.length ? `${describeRequest(request)}: ${problems.join('; ')}` : undefined
    }
    // Every text parameter with every boundary value, then random junk.
    const boundaries: string[] = []
    for (const route of reads) {
      for (const param of textParams(route)) {
        for (const value of edgeTexts) {
          const path = fillPath(route.url, route.existing ?? {})
          const request = { method: 'GET', url: `${path}?${param.name}=${encodeURIComponent(value)}` }
          const problem = await check({
            ...request,
            headers: { authorization: fuzz.auth },
            why: 'a boundary value',
          })
          if (problem) boundaries.push(problem)
        }
      }
    }
    expect(boundaries).toEqual([])
    const deadline = Date.now() + 20_000
    for (const route of reads) {
      await fc.assert(
        fc.asyncProperty(harmless(route, fuzz.auth), async (request) => {
          const problem = await check(request)
          if (problem) throw new Error(problem)
        }),
        { numRuns: 2, plugins: [fc.interruptAfterTimeLimit(Math.max(1, deadline - Date.now()))] },
      )
    }
  })
})

/** A GitLab delivery with one field replaced by junk, or junk altogether. */
const deliveryBody = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('object_kind', 'before', 'after', 'ref', 'commits', 'project', 'user_username'),
      fc.jsonValue(),
    )
    .map(([field, value]) => ({
      ...pushHook({ ref: 'refs/heads/main', after: 'b'.repeat(40) }),
      [field]: value,
    })),
  fc.jsonValue(),
)

describe('fuzz: GitLab deliveries with the right secret', () => {
  test('are answered 200 or 4xx, never 5xx, and change only the delivery log unless a pipeline starts', async ({
    app,
    deps,
    fuzz,
  }) => {
    const { project } = fuzz.world
    const secret = 'fuzz-webhook-secret'
    const patch = await app.inject({
      method: 'PATCH',
      url: `/api/projects/${project.slug}`,
      headers: { authorization: fuzz.auth },
      payload: { webhookSecret: secret },
    })
    expect(patch.statusCode).toBe(200)
    const pipelineTables = ['AuditEvent', 'OutboxJob', 'Pipeline', 'Stage', 'WebhookDelivery']
    await fc.assert(
      fc.asyncProperty(
        deliveryBody,
        fc.constantFrom('Push Hook', 'Tag Push Hook', 'Merge Request Hook', 'System Hook', ''),
        fc.option(fc.uuid(), { nil: undefined }),
        async (body, event, uuid) => {
          const request: FuzzRequest = {
            method: 'POST',
            url: `/api/webhooks/gitlab/${project.id}`,
            headers: {
              'content-type': 'application/json',
              'x-gitlab-token': secret,
              'x-gitlab-event': event,
              ...(uuid ? { 'x-gitlab-event-uuid': uuid } : {}),
            },
            payload: JSON.stringify(body),
            why: 'a junk delivery',
          }
          // Deliveries kick the outbox without waiting: let earlier kicks finish, and this one.
          await deps.outbox.kick()
          const changes = await watchChanges(deps)
          const response = await answer(app, request)
          await deps.outbox.kick()
          const changed = (await changes()).map((change) => change.split(':')[0] ?? change)
          const problems: string[] = []
          if (response.statusCode >= 500 || (response.statusCode >= 300 && response.statusCode < 400))
            problems.push(`status ${response.statusCode}: ${response.body.slice(0, 200)}`)
          else if (response.statusCode >= 400) problems.push(...errorShapeProblems(response))
          else if (!WebhookReply.safeParse(response.json()).success)
            problems.push(`not a webhook reply: ${response.body.slice(0, 200)}`)
          const started = response.statusCode === 200 && response.json().outcome === 'started'
          const allowed = started ? pipelineTables : ['WebhookDelivery']
          const unexpected = changed.filter(
            (c) => !allowed.includes(c) && !(started && c.startsWith('redis key')),
          )
          if (unexpected.length) problems.push(`changed ${unexpected.join(', ')}`)
          if (problems.length) throw new Error(`${describeRequest(request)}: ${problems.join('; ')}`)
        },
      ),
      { numRuns: 40, plugins: [fc.interruptAfterTimeLimit(20_000)] },
    )
  })
})

describe('fuzz as a whole', () => {
  test('no answer was a 5xx', async () => {
    const total = Object.values(answered).reduce((sum, n) => sum + n, 0)
    const fivexx = Object.entries(answered)
      .filter(([status]) => Number(status) >= 500)
      .reduce((sum, [, n]) => sum + n, 0)
    expect(fieldFuzz.requests).toBeGreaterThan(0)
    expect(fivexx).toBe(0)
    const fourxx = Object.entries(answered)
      .filter(([status]) => status.startsWith('4'))
      .sort(([a], [b]) => Number(a) - Number(b))
    await recordRow({
      section: 'hostile',
      id: 'hostile-fuzz',
      done: `Fuzzed all ${fieldFuzz.models} routes the API serves, from the app's route table and its OpenAPI document, as an instance administrator: in every path parameter, query parameter and body field (nested objects included) of ${fieldFuzz.routes} routes, a value of the wrong type, nested 5,000 deep, with NUL, a lone surrogate, a right-to-left override, a zero-width space, and 100,000 characters long; plus random malformed requests (bad JSON, wrong media types, a body over 1 MiB, unknown fields, broken percent-encoding, bad credentials), junk query parameters and headers on every read, and junk GitLab deliveries.`,
      expected:
        'Never a 5xx; every refusal a 4xx in the documented error shape with a code that fits its status; a read may answer 2xx (a filter that finds nothing); a right-to-left override or zero-width space in free text (names, passwords, configuration values) may be accepted and is then kept exactly. A full snapshot of every table (row count and a hash of all rows) and of the Redis keys is unchanged across the refused requests.',
      observed: `${total} requests, ${fivexx} answered 5xx; 4xx by status: ${fourxx.map(([status, n]) => `${status}: ${n}`).join(', ')}; of ${fieldFuzz.textWrites} writes carrying a right-to-left override or zero-width space, ${fieldFuzz.kept} accepted as free text, the rest refused; no table changed by a refused request.`,
      figures: {
        routes: fieldFuzz.models,
        'routes with fields fuzzed': fieldFuzz.routes,
        requests: total,
        'field requests': fieldFuzz.requests,
        ...Object.fromEntries(fourxx.map(([status, n]) => [`${status} answers`, n])),
        '5xx answers': fivexx,
      },
      test: 'apps/api/test/fuzz.test.ts',
      ci: true,
    })
  })
})
