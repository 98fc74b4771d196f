import type { AddressInfo } from 'node:net'
import { eventsKey, logStreamKey } from '@slipway/runs'
import { describe, expect } from 'vitest'
import { makeProject, makeUser, apiTest as test } from '../../test/support/test-app.ts'
import type { App } from '../app.ts'
import { hashPassword } from '../auth/crypto.ts'

interface SseEvent {
  event: string
  id: string
  data: unknown
}

/** An open SSE response read in the background: its events so far, and whether it ended. */
interface Reader {
  status: number
  body: unknown
  events: SseEvent[]
  ended: Promise<void>
  close(): void
}

async function open(base: string, path: string, headers: Record<string, string>): Promise<Reader> {
  const controller = new AbortController()
  const response = await fetch(`${base}${path}`, { headers, signal: controller.signal })
  const events: SseEvent[] = []
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
    return {
      status: response.status,
      body: await response.json(),
      events,
      ended: Promise.resolve(),
      close: () => undefined,
    }
  }
  const ended = (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      const reader = response.body!.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += decoder.decode(value, { stream: true })
        let end = buffer.indexOf('\n\n')
        while (end >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const field = (name: string) =>
            block
              .split('\n')
              .find((line) => line.startsWith(`${name}: `))
              ?.slice(name.length + 2)
          const event = field('event')
          if (event) events.push({ event, id: field('id') ?? '', data: JSON.parse(field('data') ?? 'null') })
          end = buffer.indexOf('\n\n')
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error
    }
  })()
  return { status: response.status, body: undefined, events, ended, close: () => controller.abort() }
}

async function listen(app: App): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** Clients connected to Redis under `name` (CLIENT SETNAME), across every process. */
async function namedClients(redis: { client(sub: 'LIST'): Promise<unknown> }, name: string): Promise<number> {
  const list = String(await redis.client('LIST'))
  return list.split('\n').filter((line) => line.includes(` name=${name} `)).length
}

async function buildStage(db: Parameters<typeof makeUser>[0], projectId: string): Promise<string> {
  const pipeline = await db.pipeline.create({
    data: {
      projectId,
      number: 1,
      ref: 'main',
      commitSha: 'a'.repeat(40),
      trigger: 'manual',
      status: 'running',
      stages: { create: [{ position: 0, kind: 'build', status: 'running' }] },
    },
    include: { stages: true },
  })
  return pipeline.stages[0]!.id
}

const cappedTest = test.extend({
  appOptions: { settings: { streamsPerUser: 2, streamsTotal: 3 } },
})

const watchfulTest = test.extend({
  appOptions: { settings: { streamAccessCheckMs: 100 } },
})

describe('live streams', () => {
  test('all of a process’s streams share one Redis connection, and each gets what is published', async ({
    app,
    db,
    redis,
    redisPrefix,
  }) => {
    const base = await listen(app)
    const project = await makeProject(db)
    const stageId = await buildStage(db, project.id)
    const readers: Reader[] = []
    for (let i = 0; i < 3; i++) {
      const user = await makeUser(db, { projectId: project.id, role: 'viewer' })
      readers.push(await open(base, `/api/projects/${project.slug}/events`, user.headers))
      readers.push(await open(base, `/api/stages/${stageId}/logs/live`, user.headers))
    }
    expect(readers.map((reader) => reader.status)).toEqual([200, 200, 200, 200, 200, 200])
    await redis.xadd(eventsKey(redisPrefix, project.id), '*', 'event', JSON.stringify({ kind: 'test', n: 1 }))
    await redis.xadd(logStreamKey(redisPrefix, stageId), '0-1', 'l', JSON.stringify([1, 0, 'hello']))
    for (const [index, reader] of readers.entries()) {
      const wanted = index % 2 === 0 ? 'run' : 'logs'
      await expect.poll(() => reader.events.filter((event) => event.event === wanted).length).toBe(1)
    }
    expect(readers[0]!.events.find((event) => event.event === 'run')!.data).toEqual({ kind: 'test', n: 1 })
    expect(readers[1]!.events.find((event) => event.event === 'logs')!.data).toEqual([[1, 0, 'hello']])
    // Six streams, one blocking connection.
    expect(await namedClients(redis, `${redisPrefix}:live`)).toBe(1)
    for (const reader of readers) reader.close()
    // With nobody watching, the hub lets its connection go.
    await expect.poll(() => namedClients(redis, `${redisPrefix}:live`), { timeout: 10_000 }).toBe(0)
  })

  cappedTest(
    'streams are capped per user and in total with a 429 that says which cap',
    async ({ app, db }) => {
      const base = await listen(app)
      const project = await makeProject(db)
      const alice = await makeUser(db, { projectId: project.id, role: 'viewer' })
      const bob = await makeUser(db, { projectId: project.id, role: 'viewer' })
      const path = `/api/projects/${project.slug}/events`
      const first = await open(base, path, alice.headers)
      const second = await open(base, path, alice.headers)
      const third = await open(base, path, alice.headers)
      expect([first.status, second.status, third.status]).toEqual([200, 200, 429])
      expect(third.body).toMatchObject({
        error: { code: 'RATE_LIMITED', details: { reason: 'streams-per-user', limit: 2 } },
      })
      expect((third.body as { error: { message: string } }).error.message).toMatch(
        /live streams open \(at most 2\)/,
      )
      const bobs = await open(base, path, bob.headers)
      expect(bobs.status).toBe(200)
      const over = await open(base, path, bob.headers)
      expect(over.status).toBe(429)
      expect(over.body).toMatchObject({
        error: { code: 'RATE_LIMITED', details: { reason: 'streams-total', limit: 3 } },
      })
      // A closed stream frees its place.
      first.close()
      await expect
        .poll(async () => {
          const again = await open(base, path, alice.headers)
          again.close()
          return again.status
        })
        .toBe(200)
      for (const reader of [second, bobs]) reader.close()
    },
  )

  watchfulTest(
    'a stream ends when its access does: member removed, token revoked, user disabled, session ended',
    async ({ app, db }) => {
      const base = await listen(app)
      const project = await makeProject(db)
      const path = `/api/projects/${project.slug}/events`
      const removed = await makeUser(db, { projectId: project.id, role: 'developer' })
      const revoked = await makeUser(db, { projectId: project.id, role: 'developer' })
      const disabled = await makeUser(db, { projectId: project.id, role: 'developer' })
      const signedOut = await makeUser(db, { projectId: project.id, role: 'developer' })
      const kept = await makeUser(db, { projectId: project.id, role: 'developer' })
      // This one reads through a session cookie.
      await db.user.update({
        where: { id: signedOut.id },
        data: { passwordHash: await hashPassword('a long password') },
      })
      const login = await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: signedOut.email, password: 'a long password' },
      })
      const cookie = String(login.headers['set-cookie']).split(';')[0]!

      const streams = {
        removed: await open(base, path, removed.headers),
        revoked: await open(base, path, revoked.headers),
        disabled: await open(base, path, disabled.headers),
        signedOut: await open(base, path, { cookie }),
        kept: await open(base, path, kept.headers),
      }
      expect(Object.values(streams).map((stream) => stream.status)).toEqual([200, 200, 200, 200, 200])

      await db.membership.deleteMany({ where: { userId: removed.id } })
      await db.apiToken.updateMany({ where: { userId: revoked.id }, data: { revokedAt: new Date() } })
      await db.user.update({ where: { id: disabled.id }, data: { disabledAt: new Date() } })
      await db.session.deleteMany({ where: { userId: signedOut.id } })

      for (const name of ['removed', 'revoked', 'disabled', 'signedOut'] as const) {
        await streams[name].ended
        expect(streams[name].events.at(-1)?.event).toBe('access-ended')
      }
      expect(streams.kept.events.some((event) => event.event === 'access-ended')).toBe(false)
      streams.kept.close()
    },
  )
})
