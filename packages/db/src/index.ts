import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from './generated/client.ts'

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
