import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { createDb } from '@slipway/db'
import { MigrationError, migrate } from '@slipway/db/migrate'
import { createTestDatabase, fleet, type TestDatabase } from '@slipway/testing/services'
import { afterEach, describe, expect, test } from 'vitest'

const run = promisify(execFile)
const migrationsDir = path.join(fleet().root, 'prisma', 'migrations')
const owned: TestDatabase[] = []
const folders: string[] = []

afterEach(async () => {
  await Promise.all(owned.splice(0).map((database) => database.drop()))
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })))
})

async function emptyDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase({ empty: true })
  owned.push(database)
  return database
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const db = createDb({ url, poolSize: 1 })
  try {
    return await db.$queryRawUnsafe<T[]>(sql)
  } finally {
    await db.$disconnect()
  }
}

/** Every column of the public schema (but Prisma's bookkeeping), for comparing two schemas. */
const columnsOf = (url: string) =>
  query<{ c: string }>(
    url,
    `SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS c
     FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations' ORDER BY 1`,
  ).then((rows) => rows.map((row) => row.c))

/** Prisma's CLI on the same database (packages/db's `prisma migrate ...`, its offline engine). */
const prisma = (url: string, ...args: string[]) =>
  run('pnpm', ['--silent', '--filter', '@slipway/db', 'exec', 'prisma', 'migrate', ...args], {
    cwd: fleet().root,
    env: { ...process.env, DATABASE_URL: url },
    timeout: 120_000,
  })

/** A copy of the migrations folder without its last `drop` migrations, plus `extra` ones. */
async function migrationsFolder(options: { drop?: number; extra?: Record<string, string> }): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), 'slipway-migrations-'))
  folders.push(folder)
  await cp(migrationsDir, folder, { recursive: true })
  const names = (await readdir(folder, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
  for (const name of names.slice(names.length - (options.drop ?? 0))) {
    await rm(path.join(folder, name), { recursive: true })
  }
  for (const [name, sql] of Object.entries(options.extra ?? {})) {
    await mkdir(path.join(folder, name))
    await writeFile(path.join(folder, name, 'migration.sql'), sql)
  }
  return folder
}

describe('migrate (the server’s migration command, without Prisma’s CLI)', () => {
  test('makes an empty database the schema of the template, in Prisma’s bookkeeping: Prisma sees nothing to do', async () => {
    const database = await emptyDatabase()
    const report = await migrate({ databaseUrl: database.url, migrationsDir })
    expect(report.present).toBe(0)
    expect(report.applied.length).toBeGreaterThan(10)

    const reference = await createTestDatabase()
    owned.push(reference)
    expect(await columnsOf(database.url)).toEqual(await columnsOf(reference.url))

    const status = await prisma(database.url, 'status')
    expect(status.stdout).toContain('Database schema is up to date')
    const again = await migrate({ databaseUrl: database.url, migrationsDir })
    expect(again).toEqual({ applied: [], present: report.applied.length, changed: [] })
  })

  test('takes over from Prisma’s CLI, and Prisma takes over from it', async () => {
    const database = await emptyDatabase()
    const older = await migrationsFolder({ drop: 2 })
    const first = await migrate({ databaseUrl: database.url, migrationsDir: older })
    // Prisma applies the two newer ones on top of what migrate recorded ...
    const deployed = await prisma(database.url, 'deploy')
    // (by name: its count line, "N migrations found", names every migration, not the new ones).
    const newest = (await readdir(migrationsDir))
      .filter((name) => /^\d{14}_/.test(name))
      .sort()
      .slice(-2)
    expect(deployed.stdout).toContain('have been applied')
    for (const name of newest) expect(deployed.stdout).toContain(name)
    const rows = await query<{ n: number }>(
      database.url,
      'SELECT count(*)::int AS n FROM "_prisma_migrations"',
    )
    expect(rows[0]?.n).toBe(first.applied.length + 2)
    // ... and migrate finds all of them applied, none changed.
    const after = await migrate({ databaseUrl: database.url, migrationsDir })
    expect(after).toEqual({ applied: [], present: first.applied.length + 2, changed: [] })
  })

  test('a migration that fails is rolled back whole, recorded nowhere, and named; the next run applies it once mended', async () => {
    const database = await emptyDatabase()
    const broken = await migrationsFolder({
      extra: { '29991231000000_broken': 'CREATE TABLE "Half" (id int);\nSELECT no_such_function();\n' },
    })
    const failure = await migrate({ databaseUrl: database.url, migrationsDir: broken }).catch(
      (error: unknown) => error,
    )
    expect(failure).toBeInstanceOf(MigrationError)
    expect((failure as Error).message).toMatch(
      /29991231000000_broken failed and was rolled back: .*no_such_function/,
    )
    expect(
      await query(database.url, `SELECT 1 FROM information_schema.tables WHERE table_name = 'Half'`),
    ).toEqual([])
    expect(
      await query(
        database.url,
        `SELECT 1 FROM "_prisma_migrations" WHERE migration_name = '29991231000000_broken'`,
      ),
    ).toEqual([])

    await writeFile(
      path.join(broken, '29991231000000_broken', 'migration.sql'),
      'CREATE TABLE "Half" (id int);\n',
    )
    const mended = await migrate({ databaseUrl: database.url, migrationsDir: broken })
    expect(mended.applied).toEqual(['29991231000000_broken'])
  })
})
