import { execFile } from 'node:child_process'
import { cp, mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { fleet, recordRow, secondsSince } from '@slipway/testing/services'
import { afterAll, describe, expect, it } from 'vitest'
import { type Demo, pipelineIn, setupDemo, storedLog } from '../client.ts'
import { type Stack, startStack } from '../stack.ts'
import { removeProjectFromFleet } from './fleet-truth.ts'
import { followStageLog, streamProblems } from './live-log.ts'

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, '../../..')
const testFile = 'e2e/src/report/upgrade.report.test.ts'

/**
 * The next version's migration, applied as an operator does (`prisma migrate deploy`, the
 * command behind `pnpm db:migrate`): the repository's migrations plus one more, additive (a
 * nullable column and an index), from a copy of prisma/ in `dir`.
 */
async function migrateToNextVersion(dir: string, databaseUrl: string): Promise<string> {
  const prisma = path.join(dir, 'prisma')
  await cp(path.join(root, 'prisma'), prisma, { recursive: true })
  const name = '29990101000000_upgrade_probe'
  await mkdir(path.join(prisma, 'migrations', name))
  await writeFile(
    path.join(prisma, 'migrations', name, 'migration.sql'),
    'ALTER TABLE "Pipeline" ADD COLUMN "upgradeProbe" TEXT;\nCREATE INDEX "Pipeline_upgradeProbe_idx" ON "Pipeline"("upgradeProbe");\n',
  )
  const config = path.join(dir, 'prisma.config.ts')
  const db = path.join(root, 'packages', 'db')
  await writeFile(
    config,
    [
      `import { defineConfig } from ${JSON.stringify(path.join(db, 'node_modules', 'prisma', 'config.js'))}`,
      'export default defineConfig({',
      `  schema: ${JSON.stringify(path.join(prisma, 'schema.prisma'))},`,
      `  migrations: { path: ${JSON.stringify(path.join(prisma, 'migrations'))} },`,
      `  datasource: { url: ${JSON.stringify(databaseUrl)} },`,
      '})',
      '',
    ].join('\n'),
  )
  await run('npx', ['prisma', 'migrate', 'deploy', '--config', config], {
    cwd: db,
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: path.join(db, 'engine', 'schema-engine.mjs') },
    timeout: 120_000,
  })
  return name
}

/** `psql` on the fleet's server as its administrator. */
const psql = (sql: string) => run('psql', [fleet().pgAdminUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql])

describe('upgrading Slipway while a pipeline runs (report row)', () => {
  let stack: Stack
  let demo: Demo
  // A database made as a server's is: empty, then `pnpm db:migrate` (Prisma's migration history
  // included, which the tests' template copies do not have).
  const database = `slipway_upgrade_${Date.now()}`

  afterAll(async () => {
    await stack?.stop()
    if (demo) await removeProjectFromFleet(demo.project.slug, `e2e/${demo.project.slug}`)
    await psql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
  })

  it('upgrade-with-migration-mid-pipeline', async () => {
    await psql(`CREATE DATABASE "${database}"`)
    const url = new URL(fleet().pgAdminUrl)
    url.pathname = `/${database}`
    await run('pnpm', ['--silent', 'db:migrate'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: url.toString() },
      timeout: 120_000,
    })
    stack = await startStack({ workers: 2, production: true, databaseUrl: url.toString() })
    demo = await setupDemo(stack, { prodHosts: ['prod-1'], prodReplicas: 1 })
    const ticks = 150
    const dockerfile = (await run('git', ['--git-dir', demo.repo, 'show', 'HEAD:Dockerfile'])).stdout
    const sha = await demo.commit({
      version: '8.0.0',
      files: {
        Dockerfile: dockerfile.replace(
          /^COPY www/m,
          `RUN echo upgrade ${demo.project.slug} && for i in $(seq 1 ${ticks}); do echo tick $i; sleep 0.1; done\nCOPY www`,
        ),
      },
    })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    expect(started.status).toBe(201)
    const build = (started.body.stages as { id: string; kind: string }[]).find((s) => s.kind === 'build')!
    const follower = followStageLog(demo.developer, build.id)
    try {
      await follower.waitFor(/ tick 20$/, 180_000)
      const upgradeStarted = Date.now()
      // 1. The new version's migration, while the build runs.
      const migration = await migrateToNextVersion(stack.dir, stack.databaseUrl)
      const migrated = secondsSince(upgradeStarted)
      // 2. The API restarted (SIGTERM, then the new process), 3. the workers one at a time.
      await stack.restartApi('SIGTERM')
      const before = [...stack.workers.keys()]
      for (const id of before) {
        await stack.stopWorker(id)
        await stack.startWorker()
      }
      const upgradeSeconds = secondsSince(upgradeStarted)

      const waiting = await pipelineIn(demo.developer, started.body.id, ['waiting', 'failed'], 240_000)
      expect(waiting.status).toBe('waiting')
      await follower.ended
      const { lines } = await storedLog(demo.developer, build.id)
      expect(streamProblems(follower.lines, lines)).toEqual([])
      expect(lines.map((line) => line[0])).toEqual(lines.map((_, i) => i + 1))
      const attempts = lines.filter((line) => /^▶ build · attempt \d+/.test(line[2])).length
      const approval = waiting.stages.find((s: { kind: string }) => s.kind === 'approval')
      const approved = await demo.tester.post(
        `/api/pipelines/${started.body.id}/stages/${approval.id}/approve`,
        {
          comment: 'after the upgrade',
        },
      )
      expect(approved.status).toBe(200)
      const done = await pipelineIn(demo.developer, started.body.id, ['succeeded', 'failed'], 180_000)
      expect(done.status).toBe('succeeded')
      // The migration is recorded, and its column is there.
      const applied = await stack.db.$queryRaw<{ migration_name: string }[]>`
        SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND migration_name = ${migration}`
      expect(applied).toHaveLength(1)
      const column = await stack.db.$queryRaw<{ column_name: string }[]>`
        SELECT column_name FROM information_schema.columns WHERE table_name = 'Pipeline' AND column_name = 'upgradeProbe'`
      expect(column).toHaveLength(1)

      await recordRow({
        section: 'fault',
        id: 'upgrade-with-migration-mid-pipeline',
        done: `Slipway upgraded as docs/OPERATIONS.md says while a build runs: a new additive migration applied with prisma migrate deploy, the API restarted (SIGTERM), then each of 2 workers stopped (SIGTERM) and a new one started`,
        expected:
          'the pipeline goes on and succeeds through approval and production; the live log follower ends with every stored line once, in order; the migration is recorded',
        observed: `migration applied ${migrated} s into the upgrade, all restarted after ${upgradeSeconds} s; the build ran as ${attempts} attempt(s) (a worker stopped mid-build hands its stage back); the pipeline succeeded; the follower got lines 1..${lines.length} once each, in order`,
        recoverySeconds: upgradeSeconds,
        figures: { attempts, lines: lines.length },
        test: testFile,
        ci: false,
      })
    } finally {
      follower.close()
    }
  })
})
