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
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger } from '@slipway/core'
import { eventually } from '@slipway/e2e/client'
import { startStack } from '@slipway/e2e/stack'
import { StageLog } from '@slipway/runs'
import { fleet } from '@slipway/testing/services'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { benchProject, runBurst } from './burst.ts'

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
    const refs = {
      latency: Array.from({ length: latencyRuns }, (_, i) => `latency-${i}`),
      burst: Array.from({ length: burst }, (_, i) => `burst-${i}`),
    }
    const project = await benchProject(stack, [...refs.latency, ...refs.burst])
    const { deliver, token } = project

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
    const { ids, seconds: burstSeconds, byStatus } = await runBurst(stack, project, refs.burst)
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
          headers: { authorization: `Bearer ${token}` },
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
    const ended = (byStatus.succeeded ?? 0) + (byStatus.failed ?? 0) + (byStatus.canceled ?? 0)
    const lost = burst - Object.values(byStatus).reduce((sum, count) => sum + count, 0)
    const stuck = burst - lost - ended
    console.log(`\nlost: ${lost}, stuck: ${stuck}`)
  } finally {
    await stack.stop()
  }
}

await main()
