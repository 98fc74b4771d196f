import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createFleetHostRow } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { makeUser, apiTest as test } from '../../test/support/test-app.ts'

/** A Docker-like endpoint on a unix socket that answers every ping and counts them. */
async function countingDaemon(): Promise<{
  endpoint: string
  pings: () => number
  close: () => Promise<void>
}> {
  let pings = 0
  const socket = path.join(tmpdir(), `slipway-ping-${randomBytes(4).toString('hex')}.sock`)
  const server = createServer((request, response) => {
    if (request.url?.endsWith('/_ping')) pings++
    response.writeHead(200, { 'content-type': 'text/plain' }).end('OK')
  })
  await new Promise<void>((resolve) => server.listen(socket, resolve))
  return {
    endpoint: `unix://${socket}`,
    pings: () => pings,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

describe('health endpoints', () => {
  test('/healthz answers while the process is up', async ({ app }) => {
    const response = await app.inject({ method: 'GET', url: '/healthz' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ ok: true })
  })

  test('/readyz tells the public only ready or not, from PostgreSQL and Redis, never hosts or errors', async ({
    app,
    db,
  }) => {
    await db.host.create({
      data: { name: 'gone-1', endpoint: 'unix:///tmp/slipway-gone.sock', address: '127.0.0.1' },
    })
    const response = await app.inject({ method: 'GET', url: '/readyz' })
    expect(response.statusCode).toBe(200)
    const body = response.json()
    expect(body.ready).toBe(true)
    expect(body.checks.map((check: { name: string; ok: boolean }) => [check.name, check.ok])).toEqual([
      ['postgres', true],
      ['redis', true],
    ])
    expect(JSON.stringify(body)).not.toContain('gone-1')
  })

  test('an administrator sees every host; hosts are pinged at most every 10 s however often asked', async ({
    app,
    db,
    deps,
  }) => {
    const daemon = await countingDaemon()
    try {
      await createFleetHostRow(db, 'build-1', deps.secrets.encrypt)
      await db.host.create({ data: { name: 'counted-1', endpoint: daemon.endpoint, address: '127.0.0.1' } })
      const admin = await makeUser(db, { isAdmin: true })
      const viewer = await makeUser(db)
      const asked = async (headers: Record<string, string>) =>
        app.inject({ method: 'GET', url: '/readyz', headers })
      const first = await asked(admin.headers)
      expect(first.statusCode).toBe(200)
      expect(first.json().checks.map((check: { name: string }) => check.name)).toEqual([
        'postgres',
        'redis',
        'host:build-1',
        'host:counted-1',
      ])
      for (let i = 0; i < 5; i++) {
        expect((await asked(admin.headers)).statusCode).toBe(200)
        expect((await asked(viewer.headers)).json().checks).toHaveLength(2)
        expect((await asked({})).json().checks).toHaveLength(2)
      }
      expect(daemon.pings()).toBe(1)
    } finally {
      await daemon.close()
    }
  })

  test('/readyz is 503 for an administrator and names the host that does not answer', async ({
    app,
    db,
    deps,
  }) => {
    await createFleetHostRow(db, 'build-1', deps.secrets.encrypt)
    await db.host.create({
      data: { name: 'gone-1', endpoint: 'unix:///tmp/slipway-gone.sock', address: '127.0.0.1' },
    })
    const admin = await makeUser(db, { isAdmin: true })
    const response = await app.inject({ method: 'GET', url: '/readyz', headers: admin.headers })
    expect(response.statusCode).toBe(503)
    const failing = response.json().checks.filter((check: { ok: boolean }) => !check.ok)
    expect(failing).toEqual([
      expect.objectContaining({
        name: 'host:gone-1',
        ok: false,
        error: expect.stringContaining('unreachable'),
      }),
    ])
    // The public is not told (the database and Redis are fine).
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200)
  })

  test('/readyz is 503 naming redis, with no error text, when Redis does not answer', async ({
    app,
    deps,
  }) => {
    deps.redis.disconnect()
    const response = await app.inject({ method: 'GET', url: '/readyz' })
    expect(response.statusCode).toBe(503)
    const failing = response.json().checks.filter((check: { ok: boolean }) => !check.ok)
    expect(failing).toEqual([{ name: 'redis', ok: false, latencyMs: expect.any(Number) }])
  })

  test('unknown routes get the JSON error shape', async ({ app }) => {
    const response = await app.inject({ method: 'GET', url: '/api/nothing-here' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({
      error: { code: 'NOT_FOUND', message: 'no route GET /api/nothing-here' },
    })
  })

  test('every answer carries the security headers; the CSP forbids framing', async ({ app }) => {
    const response = await app.inject({ method: 'GET', url: '/api/auth/status' })
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.headers['referrer-policy']).toBe('same-origin')
    expect(response.headers['x-frame-options']).toBe('DENY')
    const csp = String(response.headers['content-security-policy'])
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("object-src 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(csp).not.toContain('upgrade-insecure-requests')
    expect(response.headers['strict-transport-security']).toBeUndefined()
    // Swagger UI's pages (only they) allow inline styles; they cannot be framed either.
    const docs = await app.inject({ method: 'GET', url: '/api/docs/static/index.html' })
    const docsCsp = String(docs.headers['content-security-policy'])
    expect(docsCsp).toContain("style-src 'self' 'unsafe-inline'")
    expect(docsCsp).toContain("script-src 'self'")
    expect(docsCsp).toContain("frame-ancestors 'none'")
  })
})
