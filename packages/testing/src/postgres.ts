import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { fleet } from './fleet.ts'

const testPrefix = 'slipway_test_'
/** Test databases older than this are dropped as leftovers of crashed runs. */
const staleAfterSeconds = 3 * 60 * 60

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${name}`
  return parsed.toString()
}

function migrations(): { name: string; sql: string }[] {
  const dir = path.join(fleet().root, 'prisma', 'migrations')
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => ({ name, sql: readFileSync(path.join(dir, name, 'migration.sql'), 'utf8') }))
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: fleet().pgAdminUrl })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Applies every migration, in order, to the (empty) database at `url`. */
export async function applyMigrations(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    for (const migration of migrations()) await client.query(migration.sql)
  } finally {
    await client.end()
  }
}

/**
 * The template database every test database is copied from: the schema after all
 * migrations, named by a hash of the migrations so a changed migration gets a new template.
 */
export async function ensureTemplate(): Promise<string> {
  const all = migrations()
  const hash = createHash('sha256')
  for (const migration of all) hash.update(migration.name).update(migration.sql)
  const template = `slipway_tpl_${hash.digest('hex').slice(0, 12)}`
  await withAdmin(async (admin) => {
    await admin.query('SELECT pg_advisory_lock(727274)')
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template])
      if (exists.rowCount) return
      const building = `${template}_building`
      await admin.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`)
      await admin.query(`CREATE DATABASE "${building}"`)
      await applyMigrations(withDatabase(fleet().pgAdminUrl, building))
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${template}"`)
      await dropStale(admin)
    } finally {
      await admin.query('SELECT pg_advisory_unlock(727274)')
    }
  })
  return template
}

async function dropStale(admin: pg.Client): Promise<void> {
  const now = Math.floor(Date.now() / 1000)
  const rows = await admin.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE datname LIKE $1',
    [`${testPrefix}%`],
  )
  for (const { datname } of rows.rows) {
    const created = Number(datname.slice(testPrefix.length).split('_')[0])
    if (Number.isFinite(created) && now - created > staleAfterSeconds) {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`)
    }
  }
}

export interface TestDatabase {
  name: string
  url: string
  drop(): Promise<void>
}

/**
 * A fresh database with the current schema, copied from the template in ~100 ms (or `empty`,
 * for a test of the migrations themselves).
 */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const template = options.empty ? 'template0' : await ensureTemplate()
  const name = `${testPrefix}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`
  await withAdmin((admin) => admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`))
  return {
    name,
    url: withDatabase(fleet().pgAdminUrl, name),
    drop: () =>
      withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  }
}
