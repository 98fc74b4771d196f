import { execFile } from 'node:child_process'
import { rename, rm, stat } from 'node:fs/promises'
import { promisify } from 'node:util'
import { AppError } from '@slipway/core'
import { createDb, type Db, type secretContext } from '@slipway/db'

const run = promisify(execFile)

/**
 * Backup and restore of Slipway's own data: its PostgreSQL database, with pg_dump's custom
 * format (one file, restored with pg_restore). Redis holds only what can be rebuilt (queues
 * refilled from the outbox, live log streams whose lines are stored in PostgreSQL as they
 * come), so it is not part of a backup. The keyring (SLIPWAY_SECRET_KEYS) is not in the
 * backup either: it is kept apart, and a restore checks that it opens every stored secret.
 */

/**
 * Where each kind of secret envelope lives, as SQL giving one envelope per row. Keyed like
 * secretContext, so a new kind of secret does not typecheck until it is listed here.
 */
const envelopeSql = {
  registryPassword: `SELECT "passwordEnc" AS v FROM "Registry" WHERE "passwordEnc" IS NOT NULL`,
  hostTlsKey: `SELECT "tlsKeyEnc" FROM "Host" WHERE "tlsKeyEnc" IS NOT NULL`,
  projectWebhookSecret: `SELECT "webhookSecretEnc" FROM "Project" WHERE "webhookSecretEnc" IS NOT NULL`,
  projectGitlabToken: `SELECT "gitlabTokenEnc" FROM "Project" WHERE "gitlabTokenEnc" IS NOT NULL`,
  projectGitCredentials: `SELECT "gitCredentialsEnc" FROM "Project" WHERE "gitCredentialsEnc" IS NOT NULL`,
  projectBuildSecret: `SELECT s.value FROM "Project" p, jsonb_each_text(p."buildSecrets") s`,
  configSecret: `SELECT "valueEnc" FROM "ConfigEntry" WHERE "valueEnc" IS NOT NULL`,
  notificationHookSecret: `SELECT "secretEnc" FROM "NotificationHook"`,
} satisfies Record<keyof typeof secretContext, string>

/** How many stored secrets each key id sealed (envelopes are `v1.<keyId>.…`). */
export async function keyIdsInUse(db: Db): Promise<Map<string, number>> {
  const rows = await db.$queryRawUnsafe<{ key: string; count: bigint }[]>(
    `SELECT split_part(v, '.', 2) AS key, count(*) AS count FROM (${Object.values(envelopeSql).join(
      ' UNION ALL ',
    )}) AS envelopes GROUP BY 1 ORDER BY 1`,
  )
  return new Map(rows.map((row) => [row.key, Number(row.count)]))
}

/** The newest migration applied (undefined for a database not migrated by `prisma migrate`). */
async function migrationHead(db: Db): Promise<string | undefined> {
  const [table] = await db.$queryRaw<
    { name: string | null }[]
  >`SELECT to_regclass('public._prisma_migrations')::text AS name`
  if (!table?.name) return undefined
  const [head] = await db.$queryRaw<{ migration_name: string }[]>`
    SELECT migration_name FROM _prisma_migrations
    WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL
    ORDER BY migration_name DESC LIMIT 1`
  return head?.migration_name
}

async function tableCount(db: Db): Promise<number> {
  const [row] = await db.$queryRaw<{ count: bigint }[]>`
    SELECT count(*) AS count FROM information_schema.tables WHERE table_schema = 'public'`
  return Number(row?.count ?? 0)
}

async function withDb<T>(url: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = createDb({ url, poolSize: 1 })
  try {
    return await fn(db)
  } finally {
    await db.$disconnect()
  }
}

/** pg_dump/pg_restore's own message on failure (their stderr), not Node's wrapper. */
async function tool(command: string, args: string[], signal?: AbortSignal): Promise<void> {
  try {
    await run(command, args, { signal, maxBuffer: 16 * 1024 * 1024 })
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim()
    throw new AppError('DEPENDENCY_UNAVAILABLE', `${command} failed: ${stderr || (error as Error).message}`, {
      cause: error,
    })
  }
}

export interface BackupSummary {
  file: string
  bytes: number
  migration: string | undefined
  /** Key id -> secrets it sealed: the keys a restore will need. */
  keys: Record<string, number>
}

/**
 * Dumps the database at `databaseUrl` to `file` (written beside it, then renamed, so a failed
 * run never leaves a half file under the name). Consistent while Slipway runs (one snapshot).
 */
export async function backup(options: {
  databaseUrl: string
  file: string
  signal?: AbortSignal
}): Promise<BackupSummary> {
  const partial = `${options.file}.partial`
  try {
    await tool(
      'pg_dump',
      [
        '--format=custom',
        '--no-owner',
        '--no-privileges',
        `--file=${partial}`,
        `--dbname=${options.databaseUrl}`,
      ],
      options.signal,
    )
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
  await rename(partial, options.file)
  const { size } = await stat(options.file)
  return withDb(options.databaseUrl, async (db) => ({
    file: options.file,
    bytes: size,
    migration: await migrationHead(db),
    keys: Object.fromEntries(await keyIdsInUse(db)),
  }))
}

export interface RestoreSummary {
  migration: string | undefined
  keys: Record<string, number>
  /** Key ids that sealed restored secrets and are not in the keyring given. */
  missingKeys: string[]
}

/**
 * Restores `file` into the database at `databaseUrl`. The database must be empty unless
 * `replace` is set (then everything in its public schema is dropped first). Run it with
 * Slipway's API and workers stopped; migrate afterwards (a backup of an older version gets
 * the newer migrations). Fails with PRECONDITION_FAILED, naming them, when the keyring lacks
 * a key that sealed a restored secret (the data is restored; Slipway would not open them).
 */
export async function restore(options: {
  databaseUrl: string
  file: string
  keyIds: string[]
  replace?: boolean
  signal?: AbortSignal
}): Promise<RestoreSummary> {
  await stat(options.file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new AppError('NOT_FOUND', `no backup file at ${options.file}`)
    throw error
  })
  await withDb(options.databaseUrl, async (db) => {
    const tables = await tableCount(db)
    if (tables > 0 && !options.replace) {
      throw new AppError(
        'CONFLICT',
        `the database is not empty (${tables} tables); restore into an empty database, or pass --replace to drop what is there`,
      )
    }
    if (tables > 0) {
      await db.$executeRawUnsafe('DROP SCHEMA public CASCADE')
      await db.$executeRawUnsafe('CREATE SCHEMA public')
    }
  })
  await tool(
    'pg_restore',
    [
      '--no-owner',
      '--no-privileges',
      '--exit-on-error',
      '--single-transaction',
      `--dbname=${options.databaseUrl}`,
      options.file,
    ],
    options.signal,
  )
  const summary = await withDb(options.databaseUrl, async (db) => ({
    migration: await migrationHead(db),
    keys: Object.fromEntries(await keyIdsInUse(db)),
  }))
  const missingKeys = Object.keys(summary.keys).filter((id) => !options.keyIds.includes(id))
  if (missingKeys.length > 0) {
    throw new AppError(
      'PRECONDITION_FAILED',
      `restored, but SLIPWAY_SECRET_KEYS lacks ${missingKeys.map((id) => `"${id}"`).join(', ')}, which sealed ${missingKeys
        .map((id) => summary.keys[id])
        .reduce((a, b) => (a ?? 0) + (b ?? 0), 0)} stored secrets: add the key(s) before starting Slipway`,
      { details: { missingKeys } },
    )
  }
  return { ...summary, missingKeys }
}
