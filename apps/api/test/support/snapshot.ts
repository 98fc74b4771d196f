import type { Db } from '@slipway/db'
import type { Redis } from 'ioredis'

/**
 * Columns that a request may touch without changing anything: usage bookkeeping done while
 * authenticating (a token's last use, a session's sliding expiry), never the request's effect.
 */
const bookkeeping: Record<string, string[]> = {
  ApiToken: ['lastUsedAt'],
  Session: ['lastSeenAt', 'expiresAt'],
}

interface TableState {
  rows: number
  /** md5 over every row (as JSON, bookkeeping columns left out), in a stable order. */
  hash: string
}

export type DbSnapshot = Record<string, TableState>

let tableNames: Promise<string[]> | undefined

async function tables(db: Db): Promise<string[]> {
  tableNames ??= db
    .$queryRawUnsafe<{ name: string }[]>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'
       ORDER BY table_name`,
    )
    .then((rows) => rows.map((row) => row.name))
  return tableNames
}

/** Row count and content hash of every table of the test database, in one query. */
export async function dbSnapshot(db: Db): Promise<DbSnapshot> {
  const names = await tables(db)
  const parts = names.map((name) => {
    const dropped = (bookkeeping[name] ?? []).map((column) => ` - '${column}'`).join('')
    return `SELECT '${name}' AS name, count(*)::int AS row_count,
              coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text)), '') AS hash
            FROM (SELECT to_jsonb(t)${dropped} AS r FROM "${name}" t) s`
  })
  const rows = await db.$queryRawUnsafe<{ name: string; row_count: number; hash: string }[]>(
    parts.join('\nUNION ALL\n'),
  )
  return Object.fromEntries(rows.map((row) => [row.name, { rows: row.row_count, hash: row.hash }]))
}

/** Tables whose rows differ between two snapshots, e.g. `["AuditEvent: 3 -> 4 rows"]`. */
export function changedTables(before: DbSnapshot, after: DbSnapshot): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)])
  const changed: string[] = []
  for (const name of [...names].sort()) {
    const a = before[name]
    const b = after[name]
    if (a?.hash === b?.hash && a?.rows === b?.rows) continue
    changed.push(
      a?.rows === b?.rows ? `${name}: contents changed` : `${name}: ${a?.rows ?? 0} -> ${b?.rows ?? 0} rows`,
    )
  }
  return changed
}

/** The Redis keys under a prefix (BullMQ queues, jobs...), rate-limit counters left out. */
export async function redisKeys(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  for (let round = 0; round < 10_000; round++) {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    keys.push(...batch.filter((key) => !key.startsWith(`${prefix}:rl:`)))
    cursor = next
    if (cursor === '0') break
  }
  return keys.sort()
}
