import { describe, expect, it } from 'vitest'
import { isDatabaseUnreachable, Prisma, whileDatabaseAway } from './index.ts'

const prismaError = (code: string) =>
  new Prisma.PrismaClientKnownRequestError(`error ${code}`, { code, clientVersion: 'test' })

describe('waiting out a database restart', () => {
  it('knows an unreachable database from other errors', () => {
    for (const code of ['P1001', 'P1002', 'P1008', 'P1017'])
      expect(isDatabaseUnreachable(prismaError(code))).toBe(true)
    for (const error of [prismaError('P2002'), new Error('P1001'), 'P1001', undefined])
      expect(isDatabaseUnreachable(error)).toBe(false)
    // node-postgres's error for a connection the server dropped, unwrapped (not any refused connection).
    expect(isDatabaseUnreachable(new Error('Connection terminated unexpectedly'))).toBe(true)
    expect(
      isDatabaseUnreachable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toBe(false)
    // PostgreSQL starting after a restart answers 57P03 before it accepts connections.
    const starting = new Prisma.PrismaClientKnownRequestError(
      'Database error. Code: `57P03`. Message: `the database system is not yet accepting connections`',
      { code: 'P2010', clientVersion: 'test' },
    )
    expect(isDatabaseUnreachable(starting)).toBe(true)
    const unique = new Prisma.PrismaClientKnownRequestError(
      'Database error. Code: `23505`. Message: `duplicate`',
      {
        code: 'P2010',
        clientVersion: 'test',
      },
    )
    expect(isDatabaseUnreachable(unique)).toBe(false)
  })

  it('runs the work again while the database is away, then returns its result', async () => {
    let calls = 0
    const waits: number[] = []
    const result = await whileDatabaseAway(
      async () => {
        calls++
        if (calls < 3) throw prismaError('P1001')
        return 'stored'
      },
      { onWait: (_error, ms) => waits.push(ms) },
    )
    expect(result).toBe('stored')
    expect(waits).toEqual([500, 1000])
  })

  it('throws any other error at once, and gives up after its time', async () => {
    let calls = 0
    const unique = prismaError('P2002')
    await expect(
      whileDatabaseAway(async () => {
        calls++
        throw unique
      }),
    ).rejects.toBe(unique)
    expect(calls).toBe(1)

    const away = prismaError('P1001')
    await expect(
      whileDatabaseAway(
        async () => {
          throw away
        },
        { forMs: 100 },
      ),
    ).rejects.toBe(away)
  })
})
