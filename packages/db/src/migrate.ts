import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import pg from 'pg'

/**
 * Applies the migrations of `prisma/migrations` that a database lacks, as `prisma migrate
 * deploy` does and in its own bookkeeping (the `_prisma_migrations` table, the checksum of each
 * file, the same advisory lock), so a server needs no Prisma CLI and either tool can take over
 * from the other. Each migration runs in one transaction with its bookkeeping row: it is applied
 * whole or not at all.
 */
export interface MigrationReport {
  applied: string[]
  /** Already applied before this run. */
  present: number
  /** Applied migrations whose file changed since (Prisma warns about them too). */
  changed: string[]
}

/** Prisma Migrate's advisory lock key: a migration by either tool waits for the other. */
const lockKey = 72707369

const bookkeeping = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`

interface Migration {
  name: string
  sql: string
  checksum: string
}

async function migrationsIn(dir: string): Promise<Migration[]> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8')
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
    }),
  )
}

/** Thrown when the database cannot be migrated as it is; the message says what to do. */
export class MigrationError extends Error {
  override name = 'MigrationError'
}

export async function migrate(options: {
  databaseUrl: string
  migrationsDir: string
  log?: (line: string) => void
}): Promise<MigrationReport> {
  const log = options.log ?? (() => undefined)
  const migrations = await migrationsIn(options.migrationsDir)
  if (migrations.length === 0) throw new MigrationError(`no migrations in ${options.migrationsDir}`)
  const client = new pg.Client({ connectionString: options.databaseUrl })
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [lockKey])
    await client.query(bookkeeping)
    const rows = (
      await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
        `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`,
      )
    ).rows
    const failed = rows.find((row) => row.finished_at === null)
    if (failed) {
      throw new MigrationError(
        `migration ${failed.migration_name} started earlier and did not finish: mend the database, then mark it with \`prisma migrate resolve --applied|--rolled-back ${failed.migration_name}\``,
      )
    }
    const done = new Map(rows.map((row) => [row.migration_name, row.checksum]))
    const known = new Set(migrations.map((migration) => migration.name))
    for (const name of done.keys()) {
      if (!known.has(name))
        log(`applied migration ${name} is not in ${options.migrationsDir} (a newer Slipway?)`)
    }
    const report: MigrationReport = { applied: [], present: 0, changed: [] }
    for (const migration of migrations) {
      const checksum = done.get(migration.name)
      if (checksum !== undefined) {
        report.present++
        if (checksum !== migration.checksum) report.changed.push(migration.name)
        continue
      }
      const started = Date.now()
      await client.query('BEGIN')
      try {
        await client.query(migration.sql)
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
           VALUES ($1, $2, $3, $4, now(), 1)`,
          [randomUUID(), migration.checksum, migration.name, new Date(started)],
        )
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK')
        throw new MigrationError(
          `migration ${migration.name} failed and was rolled back: ${(error as Error).message}`,
        )
      }
      report.applied.push(migration.name)
      log(`applied ${migration.name} in ${Date.now() - started} ms`)
    }
    for (const name of report.changed) log(`applied migration ${name} was changed since it was applied`)
    return report
  } finally {
    await client.end()
  }
}
