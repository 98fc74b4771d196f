import { execFile } from 'node:child_process'
import os from 'node:os'
import { promisify } from 'node:util'
import { eventsKey } from '@slipway/runs'
import { recordRow } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, eventually, setupDemo, storedLog } from '../client.ts'
import { type Stack, startStack } from '../stack.ts'
import {
  closeEvery,
  type Delivered,
  deliver,
  mixPerSecond,
  planDeliveries,
  readWhile,
} from './load/deliveries.ts'
import { followLive } from './load/live.ts'
import {
  appPids,
  cpuSeconds,
  memoryFigures,
  ms,
  now,
  quantile,
  queueLengths,
  rssMiB,
  sampleEvery,
} from './load/measure.ts'
import { addProject, addReaders, type LoadProject } from './load/projects.ts'

const run = promisify(execFile)
const test = 'e2e/src/report/load.report.test.ts'
const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`

/** The bounds each row states and asserts. */
const bounds = {
  deliveriesPerSecond: 50,
  seconds: 60,
  readP99Ms: 10_000,
  /**
   * Growth of a process's resident memory over the last minute of a run. V8 collects lazily:
   * over five runs of 2026-12-06 the API's last minute moved by -52 to +69 MiB with no trend
   * from run to run (it ended at 380 to 480 MiB), so the bound is twice the first one tried.
   */
  rssGrowthMiB: 128,
  /** From the last delivery until no pipeline is queued or running and every queue is empty. */
  drainSeconds: 180,
  liveClients: 500,
  liveUsers: 50,
  /** The API's resident memory while it holds the 1,000 live streams. */
  liveRssMaxMiB: 1024,
}

const terminal = ['waiting', 'succeeded', 'failed', 'canceled']

describe('load', () => {
  let stack: Stack
  let demo: Demo
  let pids: { api: number; worker: number }

  beforeAll(async () => {
    stack = await startStack({ workers: 1 })
    demo = await setupDemo(stack, { preReplicas: 1, prodReplicas: 1, prodHosts: ['prod-1'] })
    const [api] = await appPids('api')
    const [worker] = await appPids('worker')
    if (!api || !worker) throw new Error('the stack processes were not found under /proc')
    pids = { api, worker }
  })
  afterAll(async () => {
    await stack?.stop()
  })

  /** Resident memory and CPU of the API and the worker, every 2 s. */
  const sampleProcesses = () =>
    sampleEvery(2000, async () => ({
      api: await rssMiB(pids.api),
      worker: await rssMiB(pids.worker),
      apiCpu: await cpuSeconds(pids.api),
      workerCpu: await cpuSeconds(pids.worker),
    }))

  it('load-deliveries: 50 GitLab deliveries a second for a minute over 10 projects while rollouts run', async () => {
    // Ten projects on the demo repository: two deploy to pre-release (pre-1), eight build and push.
    const projects: LoadProject[] = [{ ...demo.project, deploys: true }]
    for (let i = 1; i < 10; i++) projects.push(await addProject(demo, `${demo.project.slug}-${i}`, i < 2))
    const sha = (await run('git', ['-C', demo.repo, 'rev-parse', 'main'])).stdout.trim()
    const plan = planDeliveries({ seconds: bounds.seconds, projects, sha })

    const processes = sampleProcesses()
    const queues = sampleEvery(2000, async () => ({
      queues: await queueLengths(stack.redis, stack.prefix),
      outbox: await stack.db.outboxJob.count({ where: { dispatchedAt: null } }),
    }))
    // Reads of the dashboard during the load: a project's pipeline list, then a pipeline page.
    const known: string[] = []
    let turn = 0
    const reads = readWhile(
      stack.url,
      demo.admin.token as string,
      () => {
        turn++
        const project = projects[turn % projects.length] as LoadProject
        const id = known[Math.floor(Math.random() * known.length)]
        return turn % 2 === 0 || !id
          ? `/api/projects/${project.slug}/pipelines?limit=20`
          : `/api/pipelines/${id}`
      },
      100,
      (answer) => {
        if (answer.status !== 200 || !answer.body.startsWith('{"items"')) return
        for (const item of (JSON.parse(answer.body) as { items: { id: string }[] }).items.slice(0, 5))
          if (!known.includes(item.id)) known.push(item.id)
      },
    )
    const loadAverage = sampleEvery(2000, async () => os.loadavg()[0] ?? 0)
    const sent = await deliver(stack.url, plan, {
      sockets: 32,
      secret: 'e2e-webhook-secret',
      timeoutMs: 60_000,
    })
    const loadEnded = now()
    const readAnswers = await reads.stop()
    const machineLoad = (await loadAverage.stop()).samples.map((s) => s.value)

    // Drained: every pipeline settled, every queue and the outbox empty.
    const projectIds = projects.map((p) => p.id)
    const drained = await eventually(
      'the pipelines and queues to drain',
      async () => {
        const busy = await stack.db.pipeline.count({
          where: { projectId: { in: projectIds }, status: { in: ['queued', 'running'] } },
        })
        const lengths = await queueLengths(stack.redis, stack.prefix)
        const backlog = ['pipelines', 'stages', 'notifications'].reduce((sum, name) => {
          const q = lengths[name]
          return sum + (q ? q.waiting + q.active + q.delayed : 0)
        }, 0)
        const outbox = await stack.db.outboxJob.count({ where: { dispatchedAt: null } })
        return busy === 0 && backlog === 0 && outbox === 0 ? (now() - loadEnded) / 1000 : undefined
      },
      bounds.drainSeconds * 1000,
      1000,
    )
    // A few more samples after the drain: the memory window ends there.
    await new Promise((resolve) => setTimeout(resolve, 4000))
    const memory = await processes.stop()
    const queueSamples = await queues.stop()

    // What the deliveries got.
    const delivered = sent.delivered
    const failed = delivered.filter((d) => d.status !== 200 || !d.reply)
    const deliveryLatency = delivered.map((d) => d.end - d.scheduledAt)
    const late = delivered.filter((d) => d.end - d.scheduledAt > 10_000).length
    const answeredPerSecond =
      Math.round(
        (delivered.length /
          (Math.max(...delivered.map((d) => d.end)) - Math.min(...delivered.map((d) => d.scheduledAt)))) *
          10_000,
      ) / 10
    const count: Record<string, number> = { started: 0, ignored: 0, duplicate: 0 }
    for (const d of delivered) {
      const outcome = d.reply?.outcome ?? 'no answer'
      count[outcome] = (count[outcome] ?? 0) + 1
    }
    const byEvent = new Map<string, Delivered[]>()
    for (const d of delivered) byEvent.set(d.uuid, [...(byEvent.get(d.uuid) ?? []), d])
    const firstOf = (uuid: string) =>
      byEvent.get(uuid)?.find((d) => d.reply && d.reply.outcome !== 'duplicate')

    // What the database holds.
    const rows = await stack.db.webhookDelivery.findMany({
      where: { projectId: { in: projectIds } },
      select: { eventId: true, outcome: true, pipelineId: true },
    })
    const pipelines = await stack.db.pipeline.findMany({
      where: { projectId: { in: projectIds } },
      select: {
        id: true,
        projectId: true,
        number: true,
        status: true,
        stages: { select: { startedAt: true } },
      },
      orderBy: { number: 'asc' },
    })
    // Superseded while its build ran (see the live test: the pipeline still said 'queued').
    const canceledAfterStart = pipelines.filter(
      (p) => p.status === 'canceled' && p.stages.some((stage) => stage.startedAt !== null),
    ).length
    const statuses: Record<string, number> = {}
    for (const p of pipelines) statuses[p.status] = (statuses[p.status] ?? 0) + 1
    const rollouts = await stack.db.release.count({
      where: { environment: { projectId: { in: projectIds } } },
    })

    const readLatency = readAnswers.map((r) => r.end - r.sentAt)
    const reads50 = ms(quantile(readLatency, 0.5))
    const reads99 = ms(quantile(readLatency, 0.99))
    const api = memoryFigures(
      memory.samples.map((s) => ({ at: s.at, value: s.value.api })),
      60_000,
    )
    const worker = memoryFigures(
      memory.samples.map((s) => ({ at: s.at, value: s.value.worker })),
      60_000,
    )
    const cpu = (key: 'apiCpu' | 'workerCpu') =>
      Math.round(((memory.samples.at(-1)?.value[key] ?? 0) - (memory.samples[0]?.value[key] ?? 0)) * 10) / 10
    const queueMax = (name: string) =>
      Math.max(
        ...queueSamples.samples.map((s) => {
          const q = s.value.queues[name]
          return q ? q.waiting + q.active + q.delayed : 0
        }),
      )
    const outboxMax = Math.max(...queueSamples.samples.map((s) => s.value.outbox))
    const figures = {
      'deliveries sent': delivered.length,
      'deliveries/s planned': bounds.deliveriesPerSecond,
      'deliveries/s sent (generator)': sent.generator.sentPerSecond,
      'deliveries/s answered': answeredPerSecond,
      'generator send lag p99 / max': `${sent.generator.lagP99Ms} / ${sent.generator.lagMaxMs} ms`,
      'generator event-loop delay p99 / max': `${sent.generator.eventLoopDelayP99Ms} / ${sent.generator.eventLoopDelayMaxMs} ms`,
      'connection per request': `1 in ${closeEvery}`,
      'answered 200': delivered.length - failed.length,
      started: count.started ?? 0,
      ignored: count.ignored ?? 0,
      duplicate: count.duplicate ?? 0,
      'delivery latency p50 / p99 (from its scheduled time)': `${ms(quantile(deliveryLatency, 0.5))} / ${ms(quantile(deliveryLatency, 0.99))} ms`,
      'answered later than 10 s (GitLab would retry)': late,
      'delivery rows': rows.length,
      'pipeline rows': pipelines.length,
      'pipelines by status': JSON.stringify(statuses),
      'canceled (superseded) after their build had started': canceledAfterStart,
      'pre-release rollouts': rollouts,
      reads: readAnswers.length,
      'read p50 / p99': `${reads50} / ${reads99} ms`,
      'api RSS first / last / max': `${api.first} / ${api.last} / ${api.max} MiB`,
      'api RSS growth, last minute': `${api.growth} MiB`,
      'worker RSS first / last / max': `${worker.first} / ${worker.last} / ${worker.max} MiB`,
      'worker RSS growth, last minute': `${worker.growth} MiB`,
      'api / worker CPU': `${cpu('apiCpu')} / ${cpu('workerCpu')} s`,
      'queue max (pipelines / stages / notifications)': `${queueMax('pipelines')} / ${queueMax('stages')} / ${queueMax('notifications')}`,
      'outbox max': outboxMax,
      'drained after': `${Math.round(drained)} s`,
      'machine load average (1 min) during the load, max': Math.max(...machineLoad),
      machine,
    }
    process.stdout.write(`[load-deliveries] ${JSON.stringify(figures, null, 1)}\n`)

    // Every delivery answered 200.
    expect(failed.map((d) => `${d.index} ${d.kind}: ${d.status} ${d.error ?? d.body.slice(0, 200)}`)).toEqual(
      [],
    )
    // Each event answered once as planned (started or ignored), as duplicate every other time,
    // a duplicate naming the first one's pipeline.
    const mismatched: string[] = []
    for (const [uuid, group] of byEvent) {
      const first = firstOf(uuid)
      const firsts = group.filter((d) => d.reply?.outcome !== 'duplicate')
      if (firsts.length !== 1 || !first || first.reply?.outcome !== first.expected)
        mismatched.push(`${uuid}: ${group.map((d) => `${d.kind}=${d.reply?.outcome}`).join(', ')}`)
      else if (group.some((d) => d.reply?.pipelineId !== first.reply?.pipelineId))
        mismatched.push(`${uuid}: a duplicate names another pipeline than the first answer`)
    }
    expect(mismatched).toEqual([])
    const planned = {
      started: plan.filter((p) => p.kind === 'main').length,
      duplicate: plan.filter((p) => p.kind === 'redelivery').length,
    }
    expect(count).toEqual({
      started: planned.started,
      ignored: delivered.length - planned.started - planned.duplicate,
      duplicate: planned.duplicate,
    })
    // The database agrees: one delivery row per event with the first answer's outcome and
    // pipeline, one pipeline per start, numbered without gaps in each project, none failed.
    expect(rows).toHaveLength(byEvent.size)
    const rowMismatches = rows.filter((row) => {
      const first = firstOf(row.eventId)
      return (
        !first || row.outcome !== first.expected || (row.pipelineId ?? undefined) !== first.reply?.pipelineId
      )
    })
    expect(rowMismatches).toEqual([])
    expect(pipelines).toHaveLength(planned.started)
    expect(new Set(pipelines.map((p) => p.id))).toEqual(
      new Set(delivered.filter((d) => d.reply?.outcome === 'started').map((d) => d.reply?.pipelineId)),
    )
    for (const project of projects) {
      const numbers = pipelines.filter((p) => p.projectId === project.id).map((p) => p.number)
      expect(numbers).toEqual(numbers.map((_, i) => i + 1))
    }
    expect(pipelines.filter((p) => !terminal.includes(p.status) || p.status === 'failed')).toEqual([])
    // The generator (in this process, outside the API) handed the deliveries over at the rate.
    expect(sent.generator.sentPerSecond).toBeGreaterThanOrEqual(bounds.deliveriesPerSecond * 0.98)
    // Reads during the load.
    expect(
      readAnswers.filter((r) => r.status !== 200).map((r) => `${r.route}: ${r.status} ${r.body}`),
    ).toEqual([])
    expect(reads99).toBeLessThan(bounds.readP99Ms)
    // Memory flat over the last minute (which ends after the drain); queues drained (above).
    expect(memory.errors).toEqual([])
    expect(queueSamples.errors).toEqual([])
    expect(api.growth).toBeLessThan(bounds.rssGrowthMiB)
    expect(worker.growth).toBeLessThan(bounds.rssGrowthMiB)

    await recordRow({
      section: 'load',
      id: 'load-deliveries',
      done:
        `${delivered.length} GitLab Push Hook and Tag Push Hook deliveries, ${bounds.deliveriesPerSecond} a second for ${bounds.seconds} s, ` +
        `over 10 projects (2 deploying to pre-release, 8 building and pushing), sent on a schedule whatever the answers ` +
        `(4 in 5 on 32 kept-alive connections, 1 in 5 on a connection of its own). Each second: ` +
        `${mixPerSecond.main} push to main (starts a pipeline), ${mixPerSecond.feature + mixPerSecond.deleted + mixPerSecond.tag} pushes no rule selects ` +
        `(feature branches, branch deletions, nightly-* tags), ${mixPerSecond.redelivery} redeliveries of earlier events. ` +
        `Meanwhile the dashboard's reads (pipeline lists and pipeline pages), memory of the API and the worker and the queues sampled.`,
      expected:
        `every delivery answered 200 and accounted for (started, ignored or duplicate, matching the delivery rows ` +
        `and pipeline rows in the database, numbers without gaps, no pipeline failed); read p99 under ${bounds.readP99Ms} ms; ` +
        `API and worker memory grows less than ${bounds.rssGrowthMiB} MiB over the last minute; every queue empty within ${bounds.drainSeconds} s of the last delivery`,
      observed:
        `${delivered.length - failed.length} of ${delivered.length} answered 200 (${answeredPerSecond}/s; p50 ${ms(quantile(deliveryLatency, 0.5))} ms, ` +
        `p99 ${ms(quantile(deliveryLatency, 0.99))} ms from the scheduled send, ${late} later than GitLab's 10 s): ` +
        `${count.started} started, ${count.ignored} ignored, ${count.duplicate} duplicate; ` +
        `${rows.length} delivery rows, ${pipelines.length} pipelines (${JSON.stringify(statuses)}; ${canceledAfterStart} of the canceled ones superseded after their build had started), ${rollouts} rollouts; ` +
        `generator sent ${sent.generator.sentPerSecond}/s; reads p50 ${reads50} ms, p99 ${reads99} ms (${readAnswers.length} reads); ` +
        `API RSS ${api.first} -> ${api.last} MiB (max ${api.max}, +${api.growth} in the last minute), worker ${worker.first} -> ${worker.last} MiB (max ${worker.max}, +${worker.growth}); ` +
        `largest backlog: pipelines ${queueMax('pipelines')}, stages ${queueMax('stages')}, outbox ${outboxMax}; drained ${Math.round(drained)} s after the last delivery; ` +
        `machine load average up to ${Math.max(...machineLoad)}`,
      figures,
      test,
      ci: false,
    })
  })

  it('load-live-clients: 500 clients follow a live log and the project events for a minute', async () => {
    // Pipelines here do not supersede each other: a pipeline stays 'queued' in the database
    // while its first stage runs (the claim does not sync the pipeline's status), so a newer
    // pipeline of the same ref would cancel the running build as if it had not started.
    const live = await addProject(demo, `${demo.project.slug}-live`, false, { supersedeQueued: false })
    const readers = await addReaders(demo, live.slug, bounds.liveUsers)
    const cachedSha = (await run('git', ['-C', demo.repo, 'rev-parse', 'main'])).stdout.trim()
    // A build that prints a line every 0.1 s for a minute (a unique note: never a cache hit).
    const note = `live-${Date.now().toString(36)}`
    const printed = 600
    const sha = await demo.commit({
      files: {
        Dockerfile:
          'FROM slipway/busybox:1\n' +
          `RUN i=0; while [ $i -lt ${printed} ]; do i=$((i+1)); echo "${note} line $i"; sleep 0.1; done\n` +
          'COPY www /www\nCOPY start.sh VERSION /app/\nENV PORT=8080\nCMD ["/app/start.sh"]\n',
      },
    })
    const started = await demo.admin.post(`/api/projects/${live.slug}/pipelines`, { sha, ref: 'main' })
    expect(started.status).toBe(201)
    const stageId = (started.body.stages as { id: string; kind: string }[]).find(
      (s) => s.kind === 'build',
    )?.id
    if (!stageId) throw new Error('the pipeline has no build stage')

    const processes = sampleProcesses()
    const clients = followLive({
      url: stack.url,
      tokens: readers.map((r) => r.token as string),
      clients: bounds.liveClients,
      stageId,
      projectSlug: live.slug,
    })
    const openStart = now()
    await clients.openAll()
    const allOpen = now()
    const openSeconds = Math.round((allOpen - openStart) / 100) / 10

    // Other pipelines of the project (a cached commit) every 5 s while the log is written:
    // run events for the clients throughout the minute.
    await eventually('the build to run', async () => {
      const { body } = await demo.admin.get(`/api/pipelines/${started.body.id}`)
      return body.stages[0].status === 'running' ? true : undefined
    })
    let others = 0
    let logging = true
    const extra = (async () => {
      while (logging) {
        const other = await demo.admin.post(`/api/projects/${live.slug}/pipelines`, {
          sha: cachedSha,
          ref: 'main',
        })
        if (other.status === 201) others++
        await new Promise((resolve) => setTimeout(resolve, 5000))
      }
    })()
    await Promise.race([clients.logsEnded(), new Promise((resolve) => setTimeout(resolve, 240_000))])
    const logsEndedAfter = Math.round((now() - allOpen) / 100) / 10
    // Memory while the streams were held (sampled until the log ended).
    const memory = await processes.stop()
    logging = false
    await extra
    const followedSeconds = Math.round((now() - allOpen) / 100) / 10
    // Events published up to a few seconds before the close have reached every client.
    await new Promise((resolve) => setTimeout(resolve, 5000))
    const closedAt = now()
    await clients.close()

    const views = clients.views
    const stored = await storedLog(demo.admin, stageId)
    const stage = await stack.db.stage.findUnique({ where: { id: stageId } })
    const tally = (values: (string | number | boolean)[]) => {
      const t: Record<string, number> = {}
      for (const v of values) t[String(v)] = (t[String(v)] ?? 0) + 1
      return JSON.stringify(t)
    }
    process.stdout.write(
      `[load-live-clients] diagnostics: opened in ${openSeconds} s, logs ended after ${logsEndedAfter} s; stage ${stage?.status} attempt ${stage?.attempt}; ` +
        `stored ${stored.lines.length} lines; log status ${tally(views.map((v) => v.logStatus))}, events status ${tally(views.map((v) => v.eventsStatus))}, ` +
        `lines ${tally(views.map((v) => v.lines))}, outOfOrder ${tally(views.map((v) => v.outOfOrder))}, ended ${tally(views.map((v) => v.logEnded))}, ` +
        `errors ${tally(views.flatMap((v) => v.errors))}\n`,
    )
    const notWhole = views.filter(
      (v) => v.logStatus !== 200 || v.lines !== stored.lines.length || v.outOfOrder > 0 || !v.logEnded,
    )
    // Every run event published while all clients were open reached each of them.
    const published = (
      (await stack.redis.xrange(
        eventsKey(stack.prefix, live.id),
        String(Math.ceil(allOpen)),
        String(Math.floor(closedAt - 3000)),
      )) as [string, string[]][]
    ).map(([id]) => id)
    const missing = views.filter((v) => published.some((id) => !v.eventIds.has(id)))

    const lineP50 = ms(quantile(clients.lineLatencies, 0.5))
    const lineP99 = ms(quantile(clients.lineLatencies, 0.99))
    const eventP50 = ms(quantile(clients.eventLatencies, 0.5))
    const eventP99 = ms(quantile(clients.eventLatencies, 0.99))
    const api = memoryFigures(
      memory.samples.map((s) => ({ at: s.at, value: s.value.api })),
      60_000,
    )
    const apiCpu =
      Math.round(((memory.samples.at(-1)?.value.apiCpu ?? 0) - (memory.samples[0]?.value.apiCpu ?? 0)) * 10) /
      10

    const figures = {
      clients: views.length,
      streams: views.length * 2,
      users: readers.length,
      'opened in': `${openSeconds} s`,
      'followed for': `${followedSeconds} s`,
      'log lines per client': stored.lines.length,
      'log lines delivered': views.reduce((sum, v) => sum + v.lines, 0),
      'run events published while all open': published.length,
      'run events delivered': views.reduce((sum, v) => sum + v.eventIds.size, 0),
      'other pipelines started': others,
      'line latency p50 / p99': `${lineP50} / ${lineP99} ms`,
      'event latency p50 / p99': `${eventP50} / ${eventP99} ms`,
      'api RSS first / last / max': `${api.first} / ${api.last} / ${api.max} MiB`,
      'api RSS growth, last minute': `${api.growth} MiB`,
      'api CPU': `${apiCpu} s`,
      machine,
    }
    process.stdout.write(`[load-live-clients] ${JSON.stringify(figures, null, 1)}\n`)

    expect(stored.lines.filter((line) => line[2].includes(note)).length).toBeGreaterThanOrEqual(printed)
    expect(
      notWhole.map((v) => `${v.logStatus} ${v.lines}/${stored.lines.length} ${v.outOfOrder} ${v.logEnded}`),
    ).toEqual([])
    expect(views.filter((v) => v.eventsStatus !== 200 || v.errors.length > 0)).toEqual([])
    expect(published.length).toBeGreaterThan(0)
    expect(missing.length).toBe(0)
    // Not asserted flat: the API's memory rose by 110 to 200 MiB over the minute in the runs of
    // 2026-12-06 (see the row); bounded here so that a runaway fails.
    expect(api.max).toBeLessThan(bounds.liveRssMaxMiB)

    await recordRow({
      section: 'load',
      id: 'load-live-clients',
      done:
        `${views.length} clients (${readers.length} users, ${views.length / readers.length} each: the per-user cap is 20 streams) each followed a build's live log ` +
        `and the project's events at once (${views.length * 2} streams, the API's default total cap is 1,000), each stream on a connection of its own, ` +
        `while the build printed a line every 0.1 s for a minute and another pipeline of the project started every 5 s`,
      expected: `every client gets every log line once and in order, and every run event; no stream refused or failed; API memory under ${bounds.liveRssMaxMiB} MiB while it holds the streams (its growth over the minute is recorded, not bounded: it is not flat); line and event latency stated (no bound)`,
      observed:
        `${views.length - notWhole.length} of ${views.length} clients got all ${stored.lines.length} lines in order; all got the ${published.length} run events; ` +
        `line latency p50 ${lineP50} ms, p99 ${lineP99} ms; event latency p50 ${eventP50} ms, p99 ${eventP99} ms; ` +
        `API RSS ${api.first} -> ${api.last} MiB (max ${api.max}, +${api.growth} in the last minute), API CPU ${apiCpu} s`,
      figures,
      test,
      ci: false,
    })
  })
})
