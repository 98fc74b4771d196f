import { Prisma } from '@slipway/db'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { registerErrorHandling } from '../src/http/errors.ts'

/** The error table for database failures that are not the caller's fault. */
describe('database errors', () => {
  it('a transaction that cannot start in time (P2028, pool exhausted) is a 503 to retry, not a 500', async () => {
    const app = Fastify()
    registerErrorHandling(app)
    app.get('/busy', async () => {
      throw new Prisma.PrismaClientKnownRequestError(
        'Transaction API error: Unable to start a transaction in the given time.',
        { code: 'P2028', clientVersion: '7' },
      )
    })
    const response = await app.inject({ method: 'GET', url: '/busy' })
    expect(response.statusCode).toBe(503)
    expect(response.json().error.code).toBe('DEPENDENCY_UNAVAILABLE')
    expect(response.headers['retry-after']).toBe('1')
    await app.close()
  })
})
