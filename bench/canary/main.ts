/**
 * Canary benchmark: `pnpm --filter @slipway/bench canary [--n 4] [--write]`.
 *
 * On prod-1 and prod-2, v1 of the demo app live on N instances behind the real gateway (its
 * traffic recorder on), under 8 clients keeping their connections alive plus 2 opening a
 * connection per request, a bad release (500 on every other request) is deployed:
 *   (a) as a canary whose first step gives it 5% of requests,
 *   (b) as a canary whose first step gives it 25%,
 *   (c) by the plain rolling strategy, the baseline: nothing rolls it back by itself, so a
 *       rolling deploy of v1 follows as soon as the bad one finished (a person at once).
 * For each: the time from the first request the bad release answered to the rollback being
 * complete (the canary returned; the rollback rollout returned), and the users' requests in
 * that span, failed and all. `--write` puts the table into docs/PERFORMANCE.md.
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { createDb } from '@slipway/db'
import { canaryRelease, rollout } from '@slipway/deploy'
import {
  demoRequest,
  deployHosts,
  failsHalf,
  failures,
  hostPortsOn,
  openRedis,
  recordedFigures,
  type Sample,
  startSiteGateway,
  versionOf,
} from '@slipway/deploy/testing'
import { benchClients } from '../rollout/clients.ts'
import { createTestDatabase, demoImage, fleet } from '../rollout/fleet.ts'
import { settle } from '../rollout/settle.ts'

const args = process.argv.slice(2)
const option = (name: string) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}
const n = Number(option('--n') ?? 4)
const out = (line: string) => process.stdout.write(`${line}\n`)
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`

type Plan = Parameters<typeof canaryRelease>[0]['plan']
/** The product's default step holds and thresholds (CanaryStep, CanaryThresholds). */
const thresholds: Plan['thresholds'] = {
  minRequests: 20,
  maxErrorRate: 0.01,
  maxErrorRateRatio: 2,
  maxP99Ms: null,
  maxP99Ratio: 2,
}
const steps = (...weights: number[]): Plan['steps'] =>
  weights.map((weight) => ({ weight, holdSeconds: 60, holdRequests: 100, manual: false }))

const f = fleet()
const run = randomBytes(3).toString('hex')
const project = `canary${run}`
const environment = 'production'
const redis = openRedis(f.redisUrl)
const prefix = `bench-${run}`
const database = await createTestDatabase()
const db = createDb({ url: database.url, poolSize: 4 })
const hosts = deployHosts(['prod-1', 'prod-2'])
const gateway = await startSiteGateway({
  redis,
  prefix,
  project,
  environment,
  ttlSeconds: 1800,
  record: true,
})
const base = {
  project,
  environment,
  hosts,
  traffic: gateway.traffic,
  ports: await hostPortsOn(db, hosts),
  registry: gateway.registry,
  registryAuth: { serveraddress: f.registry.url, ...f.registry },
  labels: { 'slipway.bench': run },
}
const log: string[] = []
const request = (release: { id: string; image: string }) =>
  demoRequest({ ...base, lines: log }, release, n, { signal: AbortSignal.timeout(600_000) })
const figures = recordedFigures(redis, prefix, project, environment)

interface Row {
  what: string
  /** What ended the span: the canary's verdict, or the two rollouts' times. */
  how: string
  ms: number
  failed: number
  requests: number
  /** Failed requests outside the span (before the first bad answer or after the rollback). */
  outside: number
}

out(`canary benchmark ${run}: v1 on ${n} instances on prod-1 and prod-2; building v1 and the bad release`)
const [v1Image, badImage] = await Promise.all([
  demoImage({ ref: 'v1.0.0', version: `1.0.0-c${run}` }),
  demoImage({ ref: 'v1.1.0', version: `3.0.0-c${run}`, patch: failsHalf }),
])
const v1 = { id: 'v1', image: v1Image.image }
const bad = { id: 'bad', image: badImage.image }
await Promise.all(hosts.map((host) => host.driver.pull(bad.image, base.registryAuth)))

/**
 * Runs `deploy` (bad release in, then out again) under the two kinds of clients and measures
 * the span from the bad release's first answer to `deploy`'s end.
 */
async function measured(what: string, deploy: () => Promise<string>): Promise<Row> {
  const quiet = await settle()
  out(`${what} (machine quiet after ${s(quiet.ms)}: ${(quiet.busy * 100).toFixed(0)}% CPU busy)`)
  const clients = benchClients(gateway.port)
  const how = await deploy()
  const doneAt = Date.now()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const { keptAlive, perRequest } = await clients.stop()
  const samples: Sample[] = [...keptAlive, ...perRequest]
  const byBad = (sample: Sample) => sample.status === 500 || versionOf(sample.body) === badImage.version
  const firstAt = Math.min(...samples.filter(byBad).map((sample) => sample.start))
  if (!Number.isFinite(firstAt)) throw new Error(`${what}: no request reached the bad release`)
  const inSpan = samples.filter((sample) => sample.start >= firstAt && sample.start <= doneAt)
  const row = {
    what,
    how,
    ms: doneAt - firstAt,
    failed: failures(inSpan).length,
    requests: inSpan.length,
    outside: failures(samples).length - failures(inSpan).length,
  }
  out(`   ${how}; ${s(row.ms)} from the first bad answer: ${row.failed} of ${row.requests} requests failed`)
  return row
}

/** The bad release as a canary on prod-1 beside `live`, its steps giving it `weights` percent in turn. */
function canary(live: Parameters<typeof canaryRelease>[0]['live'], weights: number[]) {
  return async () => {
    const result = await canaryRelease({
      site: request(bad),
      host: hosts[0] as (typeof hosts)[number],
      release: bad,
      live,
      plan: { steps: steps(...weights), thresholds },
      figures,
      signal: AbortSignal.timeout(600_000),
    })
    if (result.outcome !== 'rolled-back') throw new Error(`the bad canary was ${result.outcome}`)
    return result.reason
  }
}

/** The bad release by a rolling deploy, then v1 again by another (the person's rollback). */
async function rolling(): Promise<string> {
  const began = performance.now()
  const forward = await rollout(request(bad))
  if (forward.status !== 'succeeded')
    throw new Error(`rolling deploy of the bad release: ${forward.error?.message}`)
  const forwardMs = performance.now() - began
  const back = await rollout(request(v1))
  if (back.status !== 'succeeded') throw new Error(`rollback to v1: ${back.error?.message}`)
  return `rolling deploy ${s(forwardMs)}, rollback deploy ${s(performance.now() - began - forwardMs)}`
}

const rows: Row[] = []
try {
  const live = await rollout(request(v1))
  if (live.status !== 'succeeded') throw new Error(`v1: ${live.error?.message}`)
  rows.push(await measured('(a) canary, first step 5%', canary(live.instances, [5, 25, 50])))
  rows.push(await measured('(b) canary, first step 25%', canary(live.instances, [25, 50])))
  rows.push(await measured('(c) rolling deploy, then a rolling rollback', rolling))
} catch (error) {
  out(log.slice(-30).join('\n'))
  throw error
} finally {
  for (const host of hosts)
    for (const container of await host.driver.list({ 'slipway.bench': run }))
      await host.driver.remove(container.id)
  await gateway.close()
  redis.disconnect()
  await db.$disconnect()
  await database.drop()
}

const baseline = rows.at(-1) as Row
const ratio = (row: Row) =>
  row === baseline
    ? 'baseline'
    : `${(row.failed / Math.max(1, baseline.failed)).toFixed(2)}x the failed requests, ${(row.ms / baseline.ms).toFixed(2)}x the time`
/** A Markdown table with its columns padded, as the repository's formatter leaves one. */
function markdownTable(header: string[], body: string[][]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...body.map((row) => row[column]?.length ?? 0)),
  )
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join('\n')
}
const table = markdownTable(
  [
    `${n} instances of v1, then a release failing every other request`,
    'first bad answer to rollback complete',
    'failed requests in that span',
    'ratio to the rolling baseline',
    'how it ended',
  ],
  rows.map((row) => [
    row.what,
    s(row.ms),
    `${row.failed} of ${row.requests}`,
    ratio(row),
    `${row.how}${row.outside ? ` (${row.outside} failed outside the span)` : ''}`,
  ]),
)
out(`\n${table}`)
if (args.includes('--write')) {
  const file = path.join(f.root, 'docs', 'PERFORMANCE.md')
  const current = await readFile(file, 'utf8')
  const start = '<!-- bench:canary:start -->'
  const end = '<!-- bench:canary:end -->'
  const section = `${start}\n_Measured ${new Date().toISOString().slice(0, 10)} by \`pnpm --filter @slipway/bench canary\`; 8 kept-alive clients and 2 opening a connection per request._\n\n${table}\n${end}`
  const at = current.indexOf(start)
  const next =
    at >= 0
      ? `${current.slice(0, at)}${section}${current.slice(current.indexOf(end) + end.length)}`
      : `${current.trimEnd()}\n\n## Canary releases: a bad release's reach\n\n${section}\n`
  await writeFile(file, next)
  out(`written to ${file}`)
}
