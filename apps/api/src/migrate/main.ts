/**
 * `migrate`: applies the database migrations a server's database lacks (packages/db migrate.ts;
 * the same bookkeeping as `prisma migrate deploy`, without Prisma's CLI). Run before the first
 * start and after each upgrade; the container image's other command. Reads DATABASE_URL
 * (apps/api/src/env.ts loadMigrateEnv). Exit 0 when the schema is current, 1 with the reason.
 */
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { migrate } from '@slipway/db/migrate'
import { loadMigrateEnv } from '../env.ts'

/** The checkout's (or the server tree's) prisma/migrations: the nearest above `dir`. */
async function migrationsBeside(dir: string): Promise<string> {
  for (let at = dir; ; at = path.dirname(at)) {
    const candidate = path.join(at, 'prisma', 'migrations')
    const found = await stat(candidate).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined
      throw error
    })
    if (found?.isDirectory()) return candidate
    if (path.dirname(at) === at)
      throw new Error(`no prisma/migrations above ${dir}: set SLIPWAY_MIGRATIONS_DIR`)
  }
}

const say = (line: string) => process.stdout.write(`${line}\n`)

async function main(): Promise<void> {
  const env = loadMigrateEnv()
  const migrationsDir = env.SLIPWAY_MIGRATIONS_DIR ?? (await migrationsBeside(import.meta.dirname))
  const report = await migrate({ databaseUrl: env.DATABASE_URL, migrationsDir, log: say })
  say(
    report.applied.length === 0
      ? `the database is current (${report.present} migrations applied)`
      : `applied ${report.applied.length} migrations (${report.present} were applied before)`,
  )
}

main().catch((error: unknown) => {
  process.stderr.write(`migrate: ${(error as Error).message}\n`)
  process.exit(1)
})
