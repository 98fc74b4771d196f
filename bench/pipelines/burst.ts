import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { Client, eventually } from '@slipway/e2e/client'
import type { Stack } from '@slipway/e2e/stack'
import { fleet } from '@slipway/testing/services'

const run = promisify(execFile)

export interface BenchProject {
  /** An API token of the bench's administrator. */
  token: string
  admin: Client
  /** A GitLab push delivery of the warm-up commit on `ref` (one of the refs made). */
  deliver(ref: string): Promise<{ pipelineId: string }>
}

/**
 * The bench's project on a fresh stack: an administrator, build-1 (4 builds at once), the
 * fleet's registry, a copy of the demo repository with a branch per name in `refs` (all at
 * main: deliveries are checked against the repository), and one warm-up pipeline run.
 */
export async function benchProject(stack: Stack, refs: readonly string[]): Promise<BenchProject> {
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
    tls: f.tls,
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
  const update = execFile('git', ['--git-dir', repo, 'update-ref', '--stdin'])
  update.stdin?.end(refs.map((name) => `create refs/heads/${name} ${head}\n`).join(''))
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

  return { token: token.token, admin, deliver }
}

/** Delivers one push per ref, 50 at a time, and waits for every pipeline to end. */
export async function runBurst(stack: Stack, project: BenchProject, refs: readonly string[]) {
  const started = Date.now()
  const ids: string[] = []
  for (let i = 0; i < refs.length; i += 50) {
    const batch = await Promise.all(refs.slice(i, i + 50).map((ref) => project.deliver(ref)))
    ids.push(...batch.map((b) => b.pipelineId))
  }
  const finished = await eventually(
    'the burst to finish',
    async () => {
      const rows = await stack.db.pipeline.findMany({ where: { id: { in: ids } }, select: { status: true } })
      return rows.every((r) => ['succeeded', 'failed', 'canceled'].includes(r.status)) ? rows : undefined
    },
    15 * 60_000,
    1000,
  ).catch(async (error: unknown) => {
    console.error(`the burst did not finish: ${String(error)}`)
    return stack.db.pipeline.findMany({ where: { id: { in: ids } }, select: { status: true } })
  })
  const seconds = (Date.now() - started) / 1000
  const byStatus: Record<string, number> = {}
  for (const row of finished) byStatus[row.status] = (byStatus[row.status] ?? 0) + 1
  return { ids, seconds, perMinute: (60 * refs.length) / seconds, byStatus }
}

/** `count` pipelines at once on a fresh project of `stack`: time, rate and outcomes. */
export async function burstOfPipelines(stack: Stack, count: number) {
  const refs = Array.from({ length: count }, (_, i) => `burst-${i}`)
  return runBurst(stack, await benchProject(stack, refs), refs)
}
