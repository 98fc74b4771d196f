import { createFleetHostRow } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { apiTest as test } from '../test-app.ts'

describe('health endpoints', () => {
  test('/healthz answers while the process is up', async ({ app }) => {
    const response = await app.inject({ method: 'GET', url: '/healthz' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ ok: true })
  })

  test('/readyz is 200 when Postgres, Redis and every registered host answer', async ({ app, db, deps }) => {
    await createFleetHostRow(db, 'build-1', deps.secrets.encrypt)
    await createFleetHostRow(db, 'pre-1', deps.secrets.encrypt)
    const response = await app.inject({ method: 'GET', url: '/readyz' })
    expect(response.statusCode).toBe(200)
    const body = response.json()
    expect(body.ready).toBe(true)
    expect(body.checks.map((check: { name: string }) => check.name)).toEqual([
      'postgres',
      'redis',
      'host:build-1',
      'host:pre-1',
    ])
  })

  test('/readyz is 503 and names the host that does not answer', async ({ app, db, deps }) => {
    await createFleetHostRow(db, 'build-1', deps.secrets.encrypt)
    await db.host.create({
      data: { name: 'gone-1', endpoint: 'unix:///tmp/slipway-gone.sock', address: '127.0.0.1' },
    })
    const response = await app.inject({ method: 'GET', url: '/readyz' })
    expect(response.statusCode).toBe(503)
    const failing = response.json().checks.filter((check: { ok: boolean }) => !check.ok)
    expect(failing).toEqual([
      expect.objectContaining({
        name: 'host:gone-1',
        ok: false,
        error: expect.stringContaining('unreachable'),
      }),
    ])
  })

  test('/readyz is 503 naming redis when Redis does not answer', async ({ app, deps }) => {
    deps.redis.disconnect()
    const response = await app.inject({ method: 'GET', url: '/readyz' })
    expect(response.statusCode).toBe(503)
    const failing = response.json().checks.filter((check: { ok: boolean }) => !check.ok)
    expect(failing.map((check: { name: string }) => check.name)).toEqual(['redis'])
  })

  test('unknown routes get the JSON error shape', async ({ app }) => {
    const response = await app.inject({ method: 'GET', url: '/api/nothing-here' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({
      error: { code: 'NOT_FOUND', message: 'no route GET /api/nothing-here' },
    })
  })
})
