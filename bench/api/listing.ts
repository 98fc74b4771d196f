import { type Row, row } from './load.ts'
import { type ApiServer, api } from './server.ts'

interface Page {
  items: { number: number }[]
  nextCursor: string | null
}

/** The newest pipelines are still queued (build stage waiting for a builder), as on a busy day. */
const queuedTail = 200

/**
 * 100k pipelines with five stages each, written by SQL in a few statements (what the API
 * would have created over months), then analyzed like a database that has been running.
 */
async function seedPipelines(server: ApiServer, projectId: string, envIds: string[], total: number) {
  const [pre, prod] = envIds
  await server.db.$executeRaw`
    INSERT INTO "Pipeline" (id, "projectId", number, ref, "commitSha", "commitTitle", trigger, status,
                            "createdAt", "startedAt", "finishedAt", "updatedAt")
    SELECT gen_random_uuid(), ${projectId}::uuid, n,
           CASE WHEN n % 10 = 0 THEN 'release' ELSE 'main' END,
           md5(n::text) || substr(md5((n + 1)::text), 1, 8), 'Commit ' || n,
           CASE WHEN n % 10 = 0 THEN 'gitlab-tag' ELSE 'gitlab-push' END,
           (CASE WHEN n > ${total - queuedTail} THEN 'queued'
                 WHEN n % 17 = 0 THEN 'failed' ELSE 'succeeded' END)::"PipelineStatus",
           now() - (${total} - n) * interval '1 minute',
           now() - (${total} - n) * interval '1 minute', now() - (${total} - n) * interval '1 minute', now()
    FROM generate_series(1, ${total}) AS n`
  await server.db.$executeRaw`
    INSERT INTO "Stage" (id, "pipelineId", position, kind, "environmentId", status, attempt,
                         "queuedAt", "startedAt", "finishedAt", "updatedAt")
    SELECT gen_random_uuid(), p.id, s.position, s.kind::"StageKind",
           CASE s.env WHEN 1 THEN ${pre}::uuid WHEN 2 THEN ${prod}::uuid END,
           (CASE WHEN p.status = 'queued' AND s.position = 0 THEN 'queued'
                 WHEN p.status = 'queued' THEN 'pending'
                 ELSE 'succeeded' END)::"StageStatus",
           1, p."createdAt", p."startedAt", p."finishedAt", now()
    FROM "Pipeline" p
    CROSS JOIN (VALUES (0, 'build', 0), (1, 'push', 0), (2, 'deploy', 1), (3, 'approval', 2), (4, 'deploy', 2))
      AS s(position, kind, env)
    WHERE p."projectId" = ${projectId}::uuid`
  await server.db.$executeRawUnsafe('ANALYZE "Pipeline", "Stage"')
}

/** Times `runs` sequential GETs of one URL. */
async function repeat(server: ApiServer, token: string, route: string, runs: number): Promise<number[]> {
  const latencies: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await api(server.url, token, 'GET', route)
    latencies.push(performance.now() - t0)
  }
  return latencies
}

export async function listingBenchmark(
  server: ApiServer,
  token: string,
  total: number,
  walkPages: number,
): Promise<{ rows: Row[]; seedSeconds: number }> {
  const slug = 'history'
  const project = await api(server.url, token, 'POST', '/api/projects', {
    slug,
    name: 'History',
    gitUrl: 'https://gitlab.example.com/bench/history.git',
    imageRepository: 'bench/history',
    appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
  })
  const projectId = (project.body as { id: string }).id
  const envIds: string[] = []
  for (const [position, name] of ['pre-release', 'production'].entries()) {
    const env = await api(server.url, token, 'POST', `/api/projects/${slug}/environments`, {
      name,
      position,
      requiredApprovals: position,
    })
    envIds.push((env.body as { id: string }).id)
  }
  const t0 = performance.now()
  await seedPipelines(server, projectId, envIds, total)
  const seedSeconds = (performance.now() - t0) / 1000

  const base = `/api/projects/${slug}/pipelines`
  const runs = 30
  await repeat(server, token, `${base}?limit=50`, 5)
  const rows: Row[] = [
    row('first page, 50 (all queued)', await repeat(server, token, `${base}?limit=50`, runs)),
    row(
      'page of 50 finished, just below the queue',
      await repeat(server, token, `${base}?limit=50&cursor=${total - queuedTail + 1}`, runs),
    ),
    row('first page, 200', await repeat(server, token, `${base}?limit=200`, runs)),
    row(
      `middle page (cursor ${total / 2}), 50`,
      await repeat(server, token, `${base}?limit=50&cursor=${total / 2}`, runs),
    ),
    row('deepest page (cursor 51), 50', await repeat(server, token, `${base}?limit=50&cursor=51`, runs)),
    row('first page ?status=failed, 50', await repeat(server, token, `${base}?limit=50&status=failed`, runs)),
    row('first page ?ref=release, 50', await repeat(server, token, `${base}?limit=50&ref=release`, runs)),
  ]

  // The database's share: the same query for a finished page, from this process.
  const bare: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    await server.db.pipeline.findMany({
      where: { projectId, number: { lt: total - queuedTail + 1 } },
      orderBy: { number: 'desc' },
      take: 51,
      include: { stages: { orderBy: { position: 'asc' }, include: { environment: true } } },
    })
    bare.push(performance.now() - t)
  }
  rows.push(row('bare query of a finished page of 50 (Prisma)', bare))

  // Walking the history page by page, following nextCursor.
  const pages: number[] = []
  let cursor: string | null = null
  let seen = 0
  const walkStarted = performance.now()
  for (let i = 0; i < walkPages; i++) {
    const t = performance.now()
    const page = (await api(server.url, token, 'GET', `${base}?limit=50${cursor ? `&cursor=${cursor}` : ''}`))
      .body as Page
    pages.push(performance.now() - t)
    seen += page.items.length
    cursor = page.nextCursor
    if (!cursor) break
  }
  const walkMs = performance.now() - walkStarted
  rows.push(row(`walk ${pages.length} pages of 50 (${seen} pipelines)`, pages, walkMs, 'per s = pages/s'))
  return { rows, seedSeconds }
}
