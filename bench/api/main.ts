/**
 * API benchmark (issue 3), against a real API process on 127.0.0.1 (apps/api/src/main.ts),
 * the fleet's PostgreSQL (a fresh database from the test template) and Redis:
 *   1. GitLab webhook intake at concurrency 50: delivery -> 200 (pipeline row committed) and
 *      delivery -> first job in BullMQ, p50/p99 and throughput, for one project and for ten,
 *      against GET /healthz and a bare insert of the same rows measured in the same run;
 *   2. a history of 100k pipelines (five stages each) listed page by page: first, middle and
 *      deepest pages, filters, a walk following nextCursor, against the bare query.
 * Run: pnpm --filter @slipway/bench api    (bounded: a few minutes on 2 cores)
 */
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import { intakeBenchmark, makeProjects } from './intake.ts'
import { listingBenchmark } from './listing.ts'
import { type Row, table } from './load.ts'
import { adminToken, startApi } from './server.ts'

const deliveries = Number(process.env.BENCH_DELIVERIES ?? 2000)
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 50)
const pipelines = Number(process.env.BENCH_PIPELINES ?? 100_000)
const walkPages = Number(process.env.BENCH_WALK_PAGES ?? 200)
const logLevel = process.env.BENCH_API_LOG_LEVEL ?? 'info'
const poolSize = Number(process.env.BENCH_DB_POOL ?? 10)
/** Keep the API's log (path printed at the end). */
const keepLog = process.env.BENCH_KEEP_LOG === '1'

function ratios(rows: Row[]): string {
  const [health, bare, intake, queued] = rows
  if (!health || !bare || !intake || !queued) return ''
  return [
    `  webhook -> 200 p50 is ${(intake.p50 / health.p50).toFixed(1)}x GET /healthz p50`,
    `  webhook throughput is ${(((intake.perSecond ?? 0) / (bare.perSecond ?? 1)) * 100).toFixed(0)}% of the bare insert's`,
    `  job in BullMQ p50 is ${(queued.p50 - intake.p50).toFixed(1)} ms after the 200`,
  ].join('\n')
}

async function main() {
  console.log(
    `API benchmark: node ${process.version}, ${os.cpus().length} cpus, API log level ${logLevel}, ` +
      `DB pool ${poolSize}, ${deliveries} deliveries at concurrency ${concurrency}, ${pipelines} pipelines, ` +
      `load average ${os.loadavg()[0]?.toFixed(1)}`,
  )
  const server = await startApi({ logLevel, poolSize, keepLog })
  try {
    const token = await adminToken(server.url)
    const one = await intakeBenchmark(server, await makeProjects(server, token, 1), deliveries, concurrency)
    console.log(table(`Webhook intake, 1 project, concurrency ${concurrency}`, one))
    console.log(ratios(one))
    const ten = await makeProjects(server, token, 10, 1)
    const spread = await intakeBenchmark(server, ten, deliveries, concurrency)
    console.log(table(`Webhook intake, 10 projects, concurrency ${concurrency}`, spread))
    console.log(ratios(spread))
    const listing = await listingBenchmark(server, token, pipelines, walkPages)
    console.log(
      table(
        `Listing ${pipelines} pipelines (5 stages each; seeded by SQL in ${listing.seedSeconds.toFixed(1)} s)`,
        listing.rows,
      ),
    )
  } catch (error) {
    const log = await readFile(server.logFile, 'utf8').catch(() => '')
    console.error(
      `benchmark failed; the API's last log lines:\n${log
        .split('\n')
        .slice(-30)
        .map((line) => line.slice(0, 400))
        .join('\n')}`,
    )
    throw error
  } finally {
    console.log(`load average at the end: ${os.loadavg()[0]?.toFixed(1)}`)
    if (keepLog) console.log(`API log: ${server.logFile}`)
    await server.stop()
  }
}

await main()
