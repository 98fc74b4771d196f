/**
 * Pipeline benchmark (issue 4), against the local fleet with a real API process and two
 * worker processes:
 *   1. queue latency: GitLab webhook delivery -> build stage running, p50/p99, against raw
 *      BullMQ add -> processing measured in the same run;
 *   2. 200 pipelines at once: none lost, none stuck, total time;
 *   3. logs: lines/s one stage can emit while an SSE client (like a browser) follows, and
 *      write -> receive latency p50/p99, against a bare Redis stream XADD -> XREAD; then the
 *      latency of a stage printing 500 lines a second, as a build does.
 * Run: pnpm --filter @slipway/bench pipelines   (bounded: a few minutes)
 */
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { createLogger } from '@slipway/core'
import { Client, eventually } from '@slipway/e2e/client'
import { startStack } from '@slipway/e2e/stack'
import { StageLog } from '@slipway/runs'
import { fleet } from '@slipway/testing/services'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'

const run = promisify(execFile)
const latencyRuns = Number(process.env.BENCH_LATENCY_RUNS ?? 40)
const burst = Number(process.env.BENCH_BURST ?? 200)
const logLines = Number(process.env.BENCH_LOG_LINES ?? 100_000)

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}
const ms = (value: number) => `${value.toFixed(1)} ms`

async function rawBullmqLatency(prefix: string): Promise<number[]> {
  const connection = new Redis(fleet().redisUrl, { maxRetriesPerRequest: null })
  const queue = new Queue('bench-raw', { connection, prefix })
  const seen = new Map<string, number>()
  const worker = new Worker('bench-raw', async (job) => void seen.set(job.id ?? '', performance.now()), {
    connection,
    prefix,
  })
  await worker.waitUntilReady()
  const latencies: number[] = []
  for (let i = 0; i < latencyRuns; i++) {
    const sent = performance.now()
    const job = await queue.add('x', {})
    await eventually('raw job', async () => (seen.has(job.id ?? '') ? true : undefined), 10_000, 1)
    latencies.push((seen.get(job.id ?? '') ?? 0) - sent)
  }
  await worker.close()
  await queue.obliterate({ force: true })
  await queue.close()
  connection.disconnect()
  return latencies
}

async function main() {
  const stack = await startStack({ workers: 2, workerEnv: { LOG_LEVEL: 'warn', SUPERVISE: 'false' } })
  try {
    const f = fleet()
    const setup = await fetch(`${stack.url}/api/auth/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench@bench.test', name: 'Bench', password: 'bench password 1' }),
    })
    const cookie = (setup.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
    const { csrfToken } = (await setup.json()) as { csrfToken: string }
    const token = (await (
      await fetch(`${stack.url}/api/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken },
        body: JSON.stringify({ name: 'bench' }),
      })
    ).json()) as { token: string }
    const admin = new Client(stack.url, token.token)
    await admin.post('/api/hosts', {
      name: 'build-1',
      endpoint: f.hosts['build-1'],
      agentGroup: 'default',
      maxConcurrentBuilds: 4,
    })
    const registry = await admin.post('/api/registries', { name: 'local', ...f.registry })
    // Deliveries are checked against the repository (the commit must be on the pushed
    // branch): a copy of the demo repository with a branch per delivery, all at main.
    const repoDir = await mkdtemp(path.join(tmpdir(), 'slipway-bench-repo-'))
    const repo = path.join(repoDir, 'demo.git')
    await run('git', ['clone', '--quiet', '--bare', '--', f.demoRepoUrl, repo])
    const head = (await run('git', ['--git-dir', repo, 'rev-parse', 'refs/heads/main'])).stdout.trim()
    const branches = [
      ...Array.from({ length: latencyRuns }, (_, i) => `latency-${i}`),
      ...Array.from({ length: burst }, (_, i) => `burst-${i}`),
    ]
    const update = execFile('git', ['--git-dir', repo, 'update-ref', '--stdin'])
    update.stdin?.end(branches.map((name) => `create refs/heads/${name} ${head}\n`).join(''))
    const [code] = await once(update, 'exit')
    if (code !== 0) throw new Error(`creating the bench branches failed (git exited ${code})`)
    const project = await admin.post('/api/projects', {
      slug: 'bench',
      name: 'Bench',
      gitUrl: `file://${repo}`,
      imageRepository: 'bench/demo',
      registryId: registry.body.id,
      branchRules: ['**'],
      supersedeQueued: false,
      webhookSecret: 'bench-secret',
      appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
    })
    const sha = (await admin.post('/api/projects/bench/pipelines', { ref: 'main' })).body.commitSha as string
    await eventually('the warm-up pipeline', async () => {
      const list = await admin.get('/api/projects/bench/pipelines')
      return list.body.items.every((p: { status: string }) => ['succeeded', 'failed'].includes(p.status))
        ? true
        : undefined
    })

    const deliver = (ref: string) =>
      fetch(`${stack.url}/api/webhooks/gitlab/${project.body.id}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-gitlab-event': 'Push Hook',
          'x-gitlab-token': 'bench-secret',
          'x-gitlab-event-uuid': randomUUID(),
        },
        body: JSON.stringify({
          object_kind: 'push',
          before: `${'0'.repeat(39)}1`,
          after: sha,
          ref: `refs/heads/${ref}`,
          commits: [],
        }),
      }).then((r) => r.json() as Promise<{ pipelineId: string }>)

    // 1. Queue latency, one delivery at a time.
    const latencies: number[] = []
    for (let i = 0; i < latencyRuns; i++) {
      const sentAt = Date.now()
      const { pipelineId } = await deliver(`latency-${i}`)
      const startedAt = await eventually(
        'build running',
        async () => {
          const stage = await stack.db.stage.findFirst({ where: { pipelineId, kind: 'build' } })
          return stage?.startedAt ?? undefined
        },
        60_000,
        5,
      )
      latencies.push(startedAt.getTime() - sentAt)
      await eventually('pipeline done', async () => {
        const p = await stack.db.pipeline.findUnique({ where: { id: pipelineId } })
        return p && ['succeeded', 'failed'].includes(p.status) ? true : undefined
      })
    }
    const raw = await rawBullmqLatency(`${stack.prefix}raw`)
    console.log(
      `queue latency (${latencyRuns} deliveries): p50 ${ms(quantile(latencies, 0.5))}, p99 ${ms(quantile(latencies, 0.99))}; raw BullMQ p50 ${ms(quantile(raw, 0.5))}, p99 ${ms(quantile(raw, 0.99))}`,
    )

    // 2. A burst of pipelines at once.
    const burstStart = Date.now()
    const ids: string[] = []
    for (let i = 0; i < burst; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, burst - i) }, (_, j) => deliver(`burst-${i + j}`)),
      )
      ids.push(...batch.map((b) => b.pipelineId))
    }
    const finished = await eventually(
      'the burst to finish',
      async () => {
        const rows = await stack.db.pipeline.findMany({
          where: { id: { in: ids } },
          select: { status: true },
        })
        return rows.every((r) => ['succeeded', 'failed', 'canceled'].includes(r.status)) ? rows : undefined
      },
      15 * 60_000,
      1000,
    ).catch(async () => stack.db.pipeline.findMany({ where: { id: { in: ids } }, select: { status: true } }))
    const burstSeconds = (Date.now() - burstStart) / 1000
    const byStatus: Record<string, number> = {}
    for (const row of finished) byStatus[row.status] = (byStatus[row.status] ?? 0) + 1
    console.log(`${burst} pipelines at once: ${burstSeconds.toFixed(1)} s, ${JSON.stringify(byStatus)}`)

    // 3. Log throughput with a live SSE reader.
    const pipeline = await stack.db.pipeline.findFirstOrThrow({
      where: { id: ids[0] },
      include: { stages: true },
    })
    // One stage writes `count` lines (as fast as it can, or `perSecond` of them a second, like a
    // build printing) while an SSE client follows it: throughput and write -> receive latency.
    let position = 99
    const followStage = async (count: number, perSecond?: number) => {
      const stage = await stack.db.stage.create({
        data: {
          pipelineId: pipeline.id,
          position: position++,
          kind: 'build',
          status: 'running',
          startedAt: new Date(),
        },
      })
      const received: number[] = []
      const reader = (async () => {
        const response = await fetch(`${stack.url}/api/stages/${stage.id}/logs/live`, {
          headers: { authorization: `Bearer ${token.token}` },
        })
        const decoder = new TextDecoder()
        let buffer = ''
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true })
          let split = buffer.indexOf('\n\n')
          while (split >= 0) {
            const event = buffer.slice(0, split)
            buffer = buffer.slice(split + 2)
            split = buffer.indexOf('\n\n')
            const data = event.split('\n').find((line) => line.startsWith('data: '))
            if (event.includes('event: logs') && data) {
              const now = performance.timeOrigin + performance.now()
              for (const line of JSON.parse(data.slice(6)) as [number, number, string][])
                received.push(now - Number(line[2].split(' ')[1]))
            }
            if (event.includes('event: end')) return
          }
        }
      })()
      await sleep(500)
      const log = await StageLog.open({
        db: stack.db,
        redis: stack.redis,
        prefix: stack.prefix,
        stageId: stage.id,
        logger: createLogger({ name: 'bench', level: 'silent' }),
        secrets: [],
      })
      const writeStart = performance.now()
      for (let i = 0; i < count; i++) {
        log.write(`line ${performance.timeOrigin + performance.now()} ${'x'.repeat(60)}`)
        if (perSecond) {
          const due = writeStart + ((i + 1) * 1000) / perSecond
          const wait = due - performance.now()
          if (wait > 0) await sleep(wait)
        } else if (i % 2000 === 1999) await sleep(0)
      }
      await log.close()
      const writeSeconds = (performance.now() - writeStart) / 1000
      await eventually(
        'the reader to catch up',
        async () => (received.length >= count ? true : undefined),
        120_000,
        50,
      )
      const endToEndSeconds = (performance.now() - writeStart) / 1000
      await stack.db.stage.update({
        where: { id: stage.id },
        data: { status: 'succeeded', finishedAt: new Date() },
      })
      await Promise.race([reader, sleep(5000)])
      return { writeSeconds, endToEndSeconds, received }
    }
    const { writeSeconds, endToEndSeconds, received } = await followStage(logLines)
    const pacedRate = 500
    const paced = await followStage(pacedRate * 10, pacedRate)

    // Baseline: the same number of lines through a bare Redis stream, XADD then XREAD.
    const bare = `${stack.prefix}:bench-bare`
    const bareStart = performance.now()
    for (let i = 0; i < logLines; i += 500) {
      const p = stack.redis.pipeline()
      for (let j = i; j < Math.min(logLines, i + 500); j++) p.xadd(bare, `0-${j + 1}`, 'l', `line ${j}`)
      await p.exec()
    }
    let read = 0
    let last = '0-0'
    while (read < logLines) {
      const entries = (await stack.redis.xread('COUNT', 5000, 'STREAMS', bare, last)) as [
        string,
        [string, string[]][],
      ][]
      const batch = entries?.[0]?.[1] ?? []
      read += batch.length
      last = batch.at(-1)?.[0] ?? last
    }
    const bareSeconds = (performance.now() - bareStart) / 1000
    await stack.redis.del(bare)

    const rows = [
      [
        'webhook -> build running, p50',
        ms(quantile(latencies, 0.5)),
        `raw BullMQ add -> run ${ms(quantile(raw, 0.5))}`,
      ],
      [
        'webhook -> build running, p99',
        ms(quantile(latencies, 0.99)),
        `raw BullMQ ${ms(quantile(raw, 0.99))}`,
      ],
      [`${burst} pipelines at once`, `${burstSeconds.toFixed(1)} s`, JSON.stringify(byStatus)],
      [`log: ${logLines} lines written`, `${Math.round(logLines / writeSeconds)} lines/s`, ''],
      [
        'log: written -> received by SSE',
        `${Math.round(logLines / endToEndSeconds)} lines/s`,
        `bare Redis stream ${Math.round(logLines / bareSeconds)} lines/s (ratio ${(bareSeconds / endToEndSeconds).toFixed(2)})`,
      ],
      [
        'log line latency p50 / p99',
        `${ms(quantile(received, 0.5))} / ${ms(quantile(received, 0.99))}`,
        `${received.length} lines received`,
      ],
      [
        `log line latency p50 / p99 at ${pacedRate} lines/s`,
        `${ms(quantile(paced.received, 0.5))} / ${ms(quantile(paced.received, 0.99))}`,
        `${paced.received.length} lines received`,
      ],
    ]
    console.log('\n| measure | Slipway | baseline / detail |\n|---|---|---|')
    for (const row of rows) console.log(`| ${row.join(' | ')} |`)
    const lost = burst - finished.length
    const stuck = finished.filter((r) => !['succeeded', 'failed', 'canceled'].includes(r.status)).length
    console.log(`\nlost: ${lost}, stuck: ${stuck}`)
  } finally {
    await stack.stop()
  }
}

await main()
