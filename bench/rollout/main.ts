/**
 * Rollout benchmark:
 *   `pnpm --filter @slipway/bench rollout [--sizes 8,16,28] [--networks bridge,host] [--timeline] [--write]`.
 *
 * For each N, on the local fleet's hosts (prod-1..3 and pre-1), behind the real gateway and
 * under continuous load from a second process, measured in the same run:
 *   (a) Slipway: rollout() of N instances from one release to the next (pre-pull, batches,
 *       health checks, gateway, drain, stop) — wall time and failed requests; once per
 *       container network (the app spec's `network`: bridge, host);
 *   (b) the lower bound: max raw pull time + batches x (raw start of one batch + healthy),
 *       on the same network as (a);
 *   (c) article 000's original single-threaded loop (per host: pull; per container: stop,
 *       rm, run on the same published port; no health check) — wall time and failed requests;
 *       once per N.
 * `--write` puts the table into docs/PERFORMANCE.md.
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import path from 'node:path'
import { DeployStrategy } from '@slipway/contracts'
import { createDb } from '@slipway/db'
import { rollout } from '@slipway/deploy'
import {
  demoApp,
  demoRequest,
  deployHosts,
  failures,
  hostPortsOn,
  openRedis,
  type Sample,
  startLoad,
  startSiteGateway,
} from '@slipway/deploy/testing'
import type { NetworkMode } from '@slipway/docker'
import { autoBatchSize } from '@slipway/rollout'
import { articleLoop, articleSetup, articleTeardown, makeAbsent, rawBatch, rawPulls } from './baselines.ts'
import { type Cost, cores, metered } from './cpu.ts'
import { createTestDatabase, demoImage, fleet } from './fleet.ts'
import { type Row, renderTable, writeSection } from './report.ts'
import { settle } from './settle.ts'

const args = process.argv.slice(2)
const option = (name: string) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}
const sizes = (option('--sizes') ?? '8,16,28').split(',').map(Number)
const networks = (option('--networks') ?? 'bridge,host').split(',') as NetworkMode[]
for (const network of networks)
  if (network !== 'bridge' && network !== 'host')
    throw new Error(`--networks: bridge or host, comma separated (got ${network})`)
const hostNames = ['prod-1', 'prod-2', 'prod-3', 'pre-1']
const out = (line: string) => process.stdout.write(`${line}\n`)
const seconds = (ms: number) => ms / 1000

const loadAtStart = loadavg()[0] ?? 0
const f = fleet()
const run = randomBytes(3).toString('hex')
const project = `bench${run}`
const environment = 'production'
const labels = { 'slipway.bench': run }
const auth = { serveraddress: f.registry.url, ...f.registry }
const redis = openRedis(f.redisUrl)
const gateway = await startSiteGateway({
  redis,
  prefix: `bench-${run}`,
  project,
  environment,
  ttlSeconds: 1800,
})
const hosts = deployHosts(hostNames)
// Host-network ports are leased in PostgreSQL, as in the product: a database of this run's own.
const database = await createTestDatabase()
const db = createDb({ url: database.url, poolSize: 4 })
const base = {
  project,
  environment,
  hosts,
  traffic: gateway.traffic,
  ports: await hostPortsOn(db, hosts),
  registry: gateway.registry,
  registryAuth: auth,
  labels,
}
const app = {
  ...demoApp,
  healthCheck: { ...demoApp.healthCheck, intervalSeconds: 0.1, retries: 1 },
}

out(`rollout benchmark ${run}: hosts ${hostNames.join(', ')}; building two demo releases`)
const [from, to] = await Promise.all([
  demoImage({ ref: 'v1.0.0', version: `1.0.0-b${run}` }),
  demoImage({ ref: 'v1.1.0', version: `1.1.0-b${run}` }),
])
const fromRelease = { id: 'from', image: from.image }
const toRelease = { id: 'to', image: to.image }
await Promise.all(hosts.map((h) => h.driver.pull(from.image, auth)))

/** Runs `work` under load through the gateway; returns its value, its cost and the load's samples. */
async function underLoad<T>(work: () => Promise<T>): Promise<Cost & { value: T; samples: Sample[] }> {
  const quiet = await settle()
  out(`  (machine quiet after ${seconds(quiet.ms).toFixed(0)} s: ${(quiet.busy * 100).toFixed(0)}% CPU busy)`)
  // 8 clients keeping their connections alive, paced (about 100 requests/s at most): clients,
  // not a load test that starves the hosts.
  const load = startLoad({
    port: gateway.port,
    concurrency: 8,
    pauseMs: 80,
    maxRequests: 20_000,
    maxMs: 180_000,
  })
  const { value, cost } = await metered(work)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  return { ...cost, value, samples: await load.stop() }
}

/** The measured rollouts' log lines (printed with --timeline). */
const rolloutLog: string[] = []

/** A rollout with the default strategy; `setup` ones (not measured) go in one batch. */
async function deploy(
  release: { id: string; image: string },
  replicas: number,
  network: NetworkMode,
  setup = false,
) {
  const request = demoRequest({ ...base, lines: setup ? undefined : rolloutLog }, release, replicas, {
    app: { ...app, network },
    strategy: DeployStrategy.parse(setup ? { batchSize: '100%' } : {}),
    signal: AbortSignal.timeout(600_000),
  })
  const result = await rollout(request)
  if (result.status !== 'succeeded')
    throw new Error(`rollout to ${release.id} x${replicas}: ${result.error?.message}`)
  return result
}

const rows: Row[] = []
try {
  for (const n of sizes) {
    const size = autoBatchSize(n)
    const batches = Math.ceil(n / size)
    out(`\nN=${n}: batches of ${size} -> ${batches} batches`)

    const measured: Omit<Row, 'articleMs' | 'requestsC' | 'failedC'>[] = []
    for (const network of networks) {
      out(`  on the ${network} network:`)
      // (b) raw Docker calls, with N instances of `from` serving under load.
      await makeAbsent(hosts, to.image)
      await deploy(fromRelease, n, network, true)
      const { pullMs, raw } = (
        await underLoad(async () => ({
          pullMs: await rawPulls(hosts, to.image, auth),
          raw: await rawBatch(hosts, to.image, size, 3, labels, network),
        }))
      ).value
      const lowerMs = pullMs + batches * raw.ms
      out(
        `  (b) max pull ${seconds(pullMs).toFixed(2)} s + ${batches} x ${seconds(raw.ms).toFixed(2)} s = ${seconds(lowerMs).toFixed(1)} s` +
          ` (a raw batch used ${seconds(raw.cpuMs).toFixed(1)} CPU-s to start; stopping and removing it took ${seconds(raw.stopMs).toFixed(2)} s and ${seconds(raw.stopCpuMs).toFixed(1)} CPU-s)`,
      )

      // (a) Slipway, from a fresh state of the hosts: `to` not pulled yet.
      await makeAbsent(hosts, to.image)
      const a = await underLoad(() => deploy(toRelease, n, network))
      const result = a.value
      const failedA = failures(a.samples).length
      out(
        `  (a) Slipway ${seconds(a.ms).toFixed(1)} s, ${a.samples.length} requests, ${failedA} failed; the machine spent ${seconds(a.machineCpuMs).toFixed(1)} CPU-s (this process ${seconds(a.ownCpuMs).toFixed(1)})`,
      )
      if (args.includes('--timeline')) {
        for (const line of rolloutLog.splice(0)) if (/drain|healthy after/.test(line)) out(`      ${line}`)
        for (const b of result.batches)
          out(
            `      batch ${b.index + 1}: start ${b.atMs} ms, healthy +${b.healthyMs}, serving +${b.servingMs ?? '-'}, done +${b.doneMs ?? '-'}`,
          )
      }
      rolloutLog.length = 0
      await deploy(toRelease, 0, network, true)
      measured.push({
        n,
        network,
        batchSize: size,
        batches,
        slipway: a,
        pullMs,
        raw,
        lowerMs,
        requestsA: a.samples.length,
        failedA,
        batchReports: result.batches,
      })
    }

    // (c) article 000's loop over the same hosts, with published ports as in the article.
    await makeAbsent(hosts, to.image)
    const site = { project, environment, release: 'from' }
    const article = await articleSetup(hosts, n, from.image, site, labels, gateway.traffic)
    const c = await underLoad(() => articleLoop(hosts, article, to.image, site, labels, auth))
    const phases = c.value
    const failedC = failures(c.samples).length
    const spent = Object.entries(phases).map(([k, v]) => `${k.replace('Ms', '')} ${seconds(v).toFixed(1)} s`)
    out(
      `  (c) article loop ${seconds(c.ms).toFixed(1)} s (${spent.join(', ')}), ${c.samples.length} requests, ${failedC} failed`,
    )
    await articleTeardown(article, gateway.traffic)

    for (const row of measured) rows.push({ ...row, articleMs: c.ms, requestsC: c.samples.length, failedC })
  }
} finally {
  await gateway.close()
  redis.disconnect()
  await db.$disconnect()
  await database.drop()
  // This run's releases are of no use to anyone else.
  for (const image of [from.image, to.image])
    await Promise.all(hosts.map((h) => h.driver.removeImage(image).catch(() => undefined)))
}

const machine = `${cores} cores; 1-minute load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]?.toFixed(1)} at the end`
const table = `${renderTable(rows)}\n\nMachine: ${machine}.`
out(`\n${table}`)
if (args.includes('--write')) {
  const file = path.join(f.root, 'docs', 'PERFORMANCE.md')
  const current = await readFile(file, 'utf8').catch(() => '')
  await writeFile(file, writeSection(current, table, new Date().toISOString().slice(0, 10)))
  out(`written to ${file}`)
}
