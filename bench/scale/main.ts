/**
 * Scale benchmark (issue 16): `pnpm --filter @slipway/bench scale [--n 6] [--pipelines 200] [--write]`.
 *
 *   A. The same N-instance upgrade (v1 -> v2 of the demo app, default strategy) on the two
 *      deploy targets, each behind its own real gateway, under 8 clients keeping their
 *      connections alive plus 2 opening a connection per request: `docker-hosts` (Slipway's
 *      rolling engine on prod-1..3) and `swarm` (the fleet's 3-node swarm, `docker/fleet.sh
 *      swarm up`). Wall time and failed requests; the baseline is docker-hosts.
 *   B. Pipelines per minute: the same burst of build + push pipelines (as bench/pipelines)
 *      through a real API with 1 worker, then with 2; the baseline is 1 worker.
 * `--parts A` or `--parts B` runs one part; `--write` (both parts) puts the table into
 * docs/PERFORMANCE.md.
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { DeployStrategy } from '@slipway/contracts'
import { createDb } from '@slipway/db'
import { type DeployTarget, DockerHostsTarget, SwarmTarget, type TargetDeployRequest } from '@slipway/deploy'
import {
  demoApp,
  deployHosts,
  failures,
  fleetSwarm,
  hostPortsOn,
  openRedis,
  type Sample,
  startSiteGateway,
} from '@slipway/deploy/testing'
import { DockerodeSwarm } from '@slipway/docker'
import { startStack } from '@slipway/e2e/stack'
import { burstOfPipelines } from '../pipelines/burst.ts'
import { benchClients } from '../rollout/clients.ts'
import { createTestDatabase, demoImage, fleet } from '../rollout/fleet.ts'
import { settle } from '../rollout/settle.ts'

const args = process.argv.slice(2)
const option = (name: string) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}
const n = Number(option('--n') ?? 6)
const pipelines = Number(option('--pipelines') ?? 200)
const parts = (option('--parts') ?? 'A,B').split(',')
const out = (line: string) => process.stdout.write(`${line}\n`)
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`

const f = fleet()
const run = randomBytes(3).toString('hex')
const auth = { serveraddress: f.registry.url, ...f.registry }
const redis = openRedis(f.redisUrl)
const database = await createTestDatabase()
const db = createDb({ url: database.url, poolSize: 4 })

interface Upgrade {
  target: string
  ms: number
  keptAlive: Sample[]
  perRequest: Sample[]
  status: string
}

/** v1 on `n` instances (not measured), then v1 -> v2 under load (measured). */
async function upgrade(kind: 'docker-hosts' | 'swarm'): Promise<Upgrade> {
  const project = `scale${run}${kind === 'swarm' ? 's' : 'd'}`
  const environment = 'production'
  const gateway = await startSiteGateway({
    redis,
    prefix: `bench-${run}`,
    project,
    environment,
    ttlSeconds: 1800,
  })
  const [v1, v2] = await Promise.all([
    demoImage({ ref: 'v1.0.0', version: `1.0.0-s${run}` }),
    demoImage({ ref: 'v1.1.0', version: `1.1.0-s${run}` }),
  ])
  let target: DeployTarget
  let swarm: DockerodeSwarm | undefined
  if (kind === 'swarm') {
    const fleetOfSwarm = await fleetSwarm()
    swarm = new DockerodeSwarm('swarm-1', { endpoint: fleetOfSwarm.endpoint, tls: fleetOfSwarm.tls })
    target = new SwarmTarget(swarm)
  } else {
    const hosts = deployHosts(['prod-1', 'prod-2', 'prod-3'])
    target = new DockerHostsTarget({
      hosts,
      ports: await hostPortsOn(db, hosts),
      labels: { 'slipway.bench': run },
    })
  }
  const request = (release: { id: string; image: string }): TargetDeployRequest => ({
    project,
    environment,
    release,
    replicas: n,
    app: demoApp,
    env: { GREETING: 'bench' },
    secretKeys: new Set(),
    strategy: DeployStrategy.parse({ drainSeconds: 1, healthTimeoutSeconds: 60, monitorSeconds: 1 }),
    registryAuth: auth,
    traffic: gateway.traffic,
    registry: gateway.registry,
    signal: AbortSignal.timeout(600_000),
    log: () => undefined,
  })
  try {
    const first = await target.deploy(request({ id: 'v1', image: v1.image }))
    if (first.status !== 'succeeded') throw new Error(`${kind}: v1 failed: ${first.error?.message}`)
    await settle()
    const clients = benchClients(gateway.port)
    const began = performance.now()
    const second = await target.deploy(request({ id: 'v2', image: v2.image }))
    const ms = performance.now() - began
    await new Promise((resolve) => setTimeout(resolve, 1000))
    return {
      target: kind,
      ms,
      ...(await clients.stop()),
      status: second.status === 'succeeded' ? 'succeeded' : `failed: ${second.error?.message}`,
    }
  } finally {
    if (swarm) await swarm.removeService(`slipway-${project}-${environment}`)
    else {
      const hosts = deployHosts(['prod-1', 'prod-2', 'prod-3'])
      for (const host of hosts)
        for (const c of await host.driver.list({ 'slipway.bench': run })) await host.driver.remove(c.id)
    }
    await gateway.close()
  }
}

/** The burst through a stack with `workers` worker processes: pipelines per minute. */
async function throughput(workers: number) {
  const stack = await startStack({ workers, workerEnv: { LOG_LEVEL: 'warn', SUPERVISE: 'false' } })
  try {
    return await burstOfPipelines(stack, pipelines)
  } finally {
    await stack.stop()
  }
}

out(`scale benchmark ${run}: ${n} instances per target, ${pipelines} pipelines per worker count`)
const upgrades: Upgrade[] = []
for (const kind of parts.includes('A') ? (['docker-hosts', 'swarm'] as const) : []) {
  out(`A. ${kind}: v1 -> v2 of ${n} instances under load`)
  const result = await upgrade(kind)
  upgrades.push(result)
  out(
    `   ${result.status} in ${s(result.ms)}; failed ${failures(result.keptAlive).length} of ${result.keptAlive.length} kept-alive, ${failures(result.perRequest).length} of ${result.perRequest.length} per-request`,
  )
}
const bursts: { workers: number; seconds: number; perMinute: number; byStatus: Record<string, number> }[] = []
for (const workers of parts.includes('B') ? [1, 2] : []) {
  out(`B. ${pipelines} pipelines with ${workers} worker(s)`)
  const burst = await throughput(workers)
  bursts.push({ workers, ...burst })
  out(
    `   ${burst.seconds.toFixed(1)} s: ${burst.perMinute.toFixed(1)} pipelines/min, ${JSON.stringify(burst.byStatus)}`,
  )
}
await db.$disconnect()
await database.drop()
redis.disconnect()

const [hostsRun] = upgrades
const [oneWorker] = bursts
const lines = [
  `| what | time | failed, 8 kept-alive clients | failed, 2 clients with a connection per request | ratio to baseline |`,
  '| --- | --- | --- | --- | --- |',
  ...upgrades.map(
    (u) =>
      `| ${n}-instance upgrade on ${u.target} (${u.status}) | ${s(u.ms)} | ${failures(u.keptAlive).length} of ${u.keptAlive.length} | ${failures(u.perRequest).length} of ${u.perRequest.length} | ${u === hostsRun ? 'baseline' : `${(u.ms / (hostsRun?.ms ?? u.ms)).toFixed(2)}x the time`} |`,
  ),
  ...bursts.map(
    (b) =>
      `| ${pipelines} build + push pipelines, ${b.workers} worker(s) | ${b.seconds.toFixed(1)} s: ${b.perMinute.toFixed(1)} pipelines/min (${Object.entries(
        b.byStatus,
      )
        .map(([k, v]) => `${v} ${k}`)
        .join(
          ', ',
        )}) | — | — | ${b === oneWorker ? 'baseline' : `${(b.perMinute / (oneWorker?.perMinute ?? b.perMinute)).toFixed(2)}x the rate`} |`,
  ),
]
const table = lines.join('\n')
out(`\n${table}`)
if (args.includes('--write') && parts.includes('A') && parts.includes('B')) {
  const file = path.join(f.root, 'docs', 'PERFORMANCE.md')
  const current = await readFile(file, 'utf8')
  const start = '<!-- bench:scale:start -->'
  const end = '<!-- bench:scale:end -->'
  const section = `${start}\n_Measured ${new Date().toISOString().slice(0, 10)} by \`pnpm --filter @slipway/bench scale\`._\n\n${table}\n${end}`
  const at = current.indexOf(start)
  const next =
    at >= 0
      ? `${current.slice(0, at)}${section}${current.slice(current.indexOf(end) + end.length)}`
      : `${current.trimEnd()}\n\n## Scale: deploy targets and workers\n\n${section}\n`
  await writeFile(file, next)
  out(`written to ${file}`)
}
