import { PrismaPg } from '@prisma/adapter-pg'
import { Prisma, PrismaClient } from './generated/client.ts'

export * from './generated/client.ts'
export * from './secret-contexts.ts'

export type Db = PrismaClient

export interface DbOptions {
  url: string
  /** Connections in the pool (pg's default is 10). */
  poolSize?: number
}

/** A Prisma client over node-postgres; no native query engine is involved. */
export function createDb(options: DbOptions): Db {
  const adapter = new PrismaPg({ connectionString: options.url, max: options.poolSize ?? 10 })
  return new PrismaClient({ adapter })
}

/** True when the database answers a trivial query. */
export async function pingDb(db: Db): Promise<void> {
  await db.$queryRaw`SELECT 1`
}

/** Prisma's codes for a database that cannot be reached, timed out, or closed the connection. */
const unreachableCodes = new Set(['P1001', 'P1002', 'P1008', 'P1017'])

/** True when `error` says the database did not answer (down, restarting, unreachable). */
export function isDatabaseUnreachable(error: unknown): boolean {
  if (error instanceof Prisma.PrismaClientKnownRequestError)
    return unreachableCodes.has(error.code) || serverUnavailable.test(postgresCode(error) ?? '')
  // node-postgres's own error for a connection the server dropped, which reaches us unwrapped
  // when the server dies mid-query (its exact text: no other client says it).
  return error instanceof Error && connectionLost.test(error.message)
}

const connectionLost = /^Connection terminated (unexpectedly|due to connection timeout)$/

/**
 * PostgreSQL's own "not now" answers (SQLSTATE class 57P: shutting down, crashed, or
 * "the database system is not yet accepting connections" while it starts after a restart):
 * the server is there but cannot serve yet, which is a database that is away, too.
 */
const serverUnavailable = /^57P0[1-3]$/

/** The SQLSTATE a driver-adapter error carries (in its meta, else in Prisma's message). */
export function postgresCode(error: Prisma.PrismaClientKnownRequestError): string | undefined {
  const meta = error.meta as { driverAdapterError?: { cause?: { originalCode?: unknown } } } | undefined
  const original = meta?.driverAdapterError?.cause?.originalCode
  if (typeof original === 'string') return original
  return /Code: `(\w{5})`/.exec(error.message)?.[1]
}

/**
 * Runs `work` again while the database does not answer (a restart, a failover), waiting
 * 0.5 s, then twice as long each time up to 5 s, for at most `forMs`; any other error, or
 * the database still away after that, is thrown.
 */
export async function whileDatabaseAway<T>(
  work: () => Promise<T>,
  options: { forMs?: number; onWait?: (error: unknown, waitMs: number) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (options.forMs ?? 120_000)
  let wait = 500
  for (;;) {
    try {
      return await work()
    } catch (error) {
      if (!isDatabaseUnreachable(error) || Date.now() + wait > deadline) throw error
      options.onWait?.(error, wait)
      await new Promise((resolve) => setTimeout(resolve, wait))
      wait = Math.min(5000, wait * 2)
    }
  }
}
