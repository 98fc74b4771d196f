import { randomBytes, randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { jobCatalog } from '@slipway/contracts'
import { makeTestRepo, type TestRepo } from '@slipway/testing'
import { Queue } from 'bullmq'
import { type Row, row, runConcurrent } from './load.ts'
import { type ApiServer, api } from './server.ts'

const secret = 'bench-webhook-secret'
const sha = () => randomBytes(20).toString('hex')
/** Epoch milliseconds with sub-millisecond precision (comparable with BullMQ's job timestamps). */
const now = () => performance.timeOrigin + performance.now()

interface BenchProject {
  id: string
  slug: string
  environments: { id: string; name: string; position: number; requiredApprovals: number }[]
}

/**
 * The projects' repository: deliveries are checked against it (the pushed commit must be on
 * main), so every delivery pushes main's head, each as its own event. Kept for the process.
 */
let repo: Promise<TestRepo> | undefined
const benchRepo = () => {
  repo ??= makeTestRepo()
  return repo
}

/** Projects shaped like the demo: pre-release, then production behind one approval. */
export async function makeProjects(
  server: ApiServer,
  token: string,
  count: number,
  first = 0,
): Promise<BenchProject[]> {
  const projects: BenchProject[] = []
  for (let i = first; i < first + count; i++) {
    const slug = `intake-${i}`
    const created = await api(server.url, token, 'POST', '/api/projects', {
      slug,
      name: `Intake ${i}`,
      gitUrl: (await benchRepo()).url,
      imageRepository: 'bench/app',
      branchRules: ['main'],
      supersedeQueued: false,
      webhookSecret: secret,
      appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
    })
    const environments = []
    for (const [position, name] of ['pre-release', 'production'].entries()) {
      const requiredApprovals = name === 'production' ? 1 : 0
      const env = await api(server.url, token, 'POST', `/api/projects/${slug}/environments`, {
        name,
        position,
        requiredApprovals,
        protected: name === 'production',
      })
      environments.push({ id: (env.body as { id: string }).id, name, position, requiredApprovals })
    }
    projects.push({ id: (created.body as { id: string }).id, slug, environments })
  }
  return projects
}

/** One GitLab Push Hook delivery, headers as GitLab sends them. */
async function deliver(server: ApiServer, project: BenchProject): Promise<string> {
  const after = (await benchRepo()).main.at(-1) as string
  const response = await fetch(`${server.url}/api/webhooks/gitlab/${project.id}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitLab/17.5.0',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': secret,
      'x-gitlab-event-uuid': randomUUID(),
    },
    body: JSON.stringify({
      object_kind: 'push',
      event_name: 'push',
      before: sha(),
      after,
      ref: 'refs/heads/main',
      checkout_sha: after,
      user_username: 'bench',
      project_id: 1,
      commits: [{ id: after, message: 'Bench commit\n', title: 'Bench commit' }],
      total_commits_count: 1,
    }),
    signal: AbortSignal.timeout(60_000),
  })
  const reply = (await response.json()) as { outcome?: string; pipelineId?: string }
  if (response.status !== 200 || reply.outcome !== 'started' || !reply.pipelineId)
    throw new Error(`delivery: ${response.status} ${JSON.stringify(reply)}`)
  return reply.pipelineId
}

/** BullMQ's own timestamp of each pipeline's first job (added by the API's outbox dispatcher). */
async function queuedAt(server: ApiServer, pipelineIds: string[]): Promise<Map<string, number>> {
  const deadline = Date.now() + 120_000
  while ((await server.db.outboxJob.count({ where: { dispatchedAt: null, name: 'pipeline.advance' } })) > 0) {
    if (Date.now() > deadline) throw new Error('outbox rows still undispatched after 120 s')
    await sleep(100)
  }
  const rows = await server.db.$queryRaw<{ id: bigint; pipeline: string }[]>`
    SELECT id, payload->>'pipelineId' AS pipeline FROM "OutboxJob" WHERE name = 'pipeline.advance'`
  const outboxOf = new Map(rows.map((r) => [r.pipeline, r.id]))
  const queue = new Queue(jobCatalog['pipeline.advance'].queue, {
    connection: server.redis,
    prefix: server.prefix,
  })
  const times = new Map<string, number>()
  for (let i = 0; i < pipelineIds.length; i += 200) {
    const chunk = pipelineIds.slice(i, i + 200)
    const jobs = await Promise.all(chunk.map((id) => queue.getJob(`outbox-${outboxOf.get(id)}`)))
    chunk.forEach((id, k) => {
      const job = jobs[k]
      if (!job) throw new Error(`pipeline ${id}: no BullMQ job`)
      times.set(id, job.timestamp)
    })
  }
  await queue.close()
  return times
}

/** The stages the API plans for these projects: build, push, then per environment (approval,) deploy. */
function stagesOf(project: BenchProject) {
  const stages: { kind: 'build' | 'push' | 'approval' | 'deploy'; environmentId: string | null }[] = [
    { kind: 'build', environmentId: null },
    { kind: 'push', environmentId: null },
  ]
  for (const env of project.environments) {
    if (env.requiredApprovals > 0) stages.push({ kind: 'approval', environmentId: env.id })
    stages.push({ kind: 'deploy', environmentId: env.id })
  }
  return stages.map((stage, position) => ({ ...stage, position }))
}

/** Per-project queues, as the API keeps them: one transaction of a project at a time. */
const tails = new Map<string, Promise<unknown>>()
function serial(key: string, task: () => Promise<void>): Promise<void> {
  const result = (tails.get(key) ?? Promise.resolve()).then(task)
  tails.set(
    key,
    result.catch(() => undefined),
  )
  return result
}

/** The rows a started delivery writes, inserted directly: the database's share of the work. */
function bareInsert(server: ApiServer, project: BenchProject): Promise<void> {
  return serial(project.id, () => bareTransaction(server, project))
}

async function bareTransaction(server: ApiServer, project: BenchProject): Promise<void> {
  const after = sha()
  await server.db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${project.id}))`
    const last = await tx.pipeline.findFirst({
      where: { projectId: project.id },
      orderBy: { number: 'desc' },
      select: { number: true },
    })
    const pipeline = await tx.pipeline.create({
      data: {
        projectId: project.id,
        number: (last?.number ?? 0) + 1,
        ref: 'bare',
        commitSha: after,
        trigger: 'gitlab-push',
        stages: { create: stagesOf(project) },
      },
    })
    // Written as already dispatched, so that the API's dispatcher leaves it alone.
    await tx.outboxJob.create({
      data: { name: 'bench.bare', payload: { pipelineId: pipeline.id }, dispatchedAt: new Date() },
    })
    await tx.auditEvent.create({
      data: { actorLabel: 'bench', action: 'pipeline.create', targetType: 'pipeline', targetId: pipeline.id },
    })
    await tx.webhookDelivery.create({
      data: { projectId: project.id, eventId: randomUUID(), event: 'Push Hook', outcome: 'started' },
    })
  })
}

/**
 * GitLab webhook intake at `concurrency`: delivery -> 200 (pipeline row committed) and
 * delivery -> job in BullMQ, against GET /healthz and a bare insert of the same rows.
 */
export async function intakeBenchmark(
  server: ApiServer,
  projects: BenchProject[],
  deliveries: number,
  concurrency: number,
): Promise<Row[]> {
  const pick = (i: number) => projects[i % projects.length] as BenchProject
  // Warm-up (JIT, connection pools), not measured.
  await runConcurrent(100, concurrency, async (i) => void (await deliver(server, pick(i))))
  await runConcurrent(500, concurrency, async () => void (await fetch(`${server.url}/healthz`)).text())

  const health = await runConcurrent(deliveries, concurrency, async () => {
    const response = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(30_000) })
    if (!response.ok) throw new Error(`healthz: ${response.status}`)
    await response.text()
  })
  const bare = await runConcurrent(deliveries, concurrency, (i) => bareInsert(server, pick(i)))
  const sent: { pipelineId: string; at: number }[] = new Array(deliveries)
  const intake = await runConcurrent(deliveries, concurrency, async (i) => {
    const at = now()
    sent[i] = { pipelineId: await deliver(server, pick(i)), at }
  })
  const times = await queuedAt(
    server,
    sent.map((s) => s.pipelineId),
  )
  const toQueue = sent.map((s) => (times.get(s.pipelineId) ?? Number.NaN) - s.at)
  const lastQueued = Math.max(...times.values())
  const firstSent = Math.min(...sent.map((s) => s.at))
  const scope = `${projects.length} project${projects.length > 1 ? 's' : ''}`
  return [
    row('GET /healthz (HTTP floor)', health.latencies, health.wallMs),
    row(`bare insert of the same rows, ${scope}`, bare.latencies, bare.wallMs),
    row(`webhook -> 200 (pipeline row), ${scope}`, intake.latencies, intake.wallMs),
    row(`webhook -> job in BullMQ, ${scope}`, toQueue, lastQueued - firstSent),
  ]
}
