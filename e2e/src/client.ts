import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { fleet, freePort } from '@slipway/testing/services'
import type { Stack } from './stack.ts'

const run = promisify(execFile)

export interface Reply<T = any> {
  status: number
  body: T
}

/** A tiny JSON client for the API with a bearer token. */
export class Client {
  constructor(
    readonly url: string,
    readonly token?: string,
  ) {}

  async request<T = any>(method: string, route: string, body?: unknown): Promise<Reply<T>> {
    const response = await fetch(`${this.url}${route}`, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await response.text()
    return { status: response.status, body: text ? JSON.parse(text) : null }
  }

  get<T = any>(route: string) {
    return this.request<T>('GET', route)
  }
  post<T = any>(route: string, body: unknown = {}) {
    return this.request<T>('POST', route, body)
  }
  patch<T = any>(route: string, body: unknown) {
    return this.request<T>('PATCH', route, body)
  }
  put<T = any>(route: string, body: unknown) {
    return this.request<T>('PUT', route, body)
  }
}

/** Signs in (cookie + CSRF) and makes an API token for the user. */
export async function tokenFor(url: string, email: string, password: string): Promise<string> {
  const login = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  if (!login.ok) throw new Error(`login of ${email} failed: ${login.status} ${await login.text()}`)
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const { csrfToken } = (await login.json()) as { csrfToken: string }
  const created = await fetch(`${url}/api/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken },
    body: JSON.stringify({ name: 'e2e' }),
  })
  return ((await created.json()) as { token: string }).token
}

export interface Demo {
  admin: Client
  developer: Client
  tester: Client
  viewer: Client
  project: { id: string; slug: string }
  /** A bare git repository of this test (a copy of the demo repository). */
  repo: string
  gatewayPorts: { 'pre-release': number; production: number }
  /** Commits a change to the test's repository and returns the new commit. */
  commit(change: { version?: string; files?: Record<string, string>; message?: string }): Promise<string>
}

const password = 'e2e password 1234'

/**
 * A demo project on the stack through the API: hosts, the fleet registry, a pre-release
 * environment on pre-1 and a production environment (one approval) on prod hosts, and users
 * with each role.
 */
export async function setupDemo(
  stack: Pick<Stack, 'url' | 'dir'>,
  options: { prodHosts?: string[]; prodReplicas?: number; preReplicas?: number } = {},
): Promise<Demo> {
  const { url } = stack
  const setup = await fetch(`${url}/api/auth/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'admin@e2e.test', name: 'Admin', password }),
  })
  if (setup.status !== 201) throw new Error(`setup failed: ${setup.status} ${await setup.text()}`)
  const admin = new Client(url, await tokenFor(url, 'admin@e2e.test', password))

  const f = fleet()
  const hostIds: Record<string, string> = {}
  for (const [name, endpoint] of Object.entries(f.hosts)) {
    const host = await admin.post('/api/hosts', {
      name,
      endpoint,
      tls: f.tls,
      agentGroup: name.startsWith('build-') ? 'default' : null,
    })
    hostIds[name] = host.body.id
  }
  const registry = await admin.post('/api/registries', {
    name: 'local',
    url: f.registry.url,
    username: f.registry.username,
    password: f.registry.password,
  })

  // Inside the stack's folder: removed with it.
  const repo = path.join(stack.dir, 'demo.git')
  await run('git', ['clone', '--quiet', '--bare', '--', f.demoRepoUrl, repo])

  const slug = `demo-${Math.random().toString(36).slice(2, 7)}`
  const project = await admin.post('/api/projects', {
    slug,
    name: 'Demo',
    gitUrl: `file://${repo}`,
    imageRepository: `e2e/${slug}`,
    registryId: registry.body.id,
    tagRules: ['v*'],
    webhookSecret: 'e2e-webhook-secret',
    appSpec: {
      containerPort: 8080,
      healthCheck: { type: 'http', path: '/healthz', intervalSeconds: 0.3, timeoutSeconds: 2, retries: 2 },
      stopGraceSeconds: 5,
    },
  })
  if (project.status !== 201) throw new Error(`project: ${JSON.stringify(project.body)}`)
  const gatewayPorts = { 'pre-release': await freePort(), production: await freePort() }
  const env = (name: 'pre-release' | 'production', position: number, hosts: string[], extra: object) =>
    admin.post(`/api/projects/${slug}/environments`, {
      name,
      position,
      hostIds: hosts.map((h) => hostIds[h]),
      gatewayPort: gatewayPorts[name],
      strategy: { drainSeconds: 0.2, healthTimeoutSeconds: 30 },
      ...extra,
    })
  await env('pre-release', 0, ['pre-1'], { replicas: options.preReplicas ?? 1 })
  await env('production', 1, options.prodHosts ?? ['prod-1', 'prod-2'], {
    replicas: options.prodReplicas ?? 2,
    protected: true,
    requiredApprovals: 1,
  })

  const member = async (role: string) => {
    const email = `${role}@e2e.test`
    const user = await admin.post('/api/users', { email, name: role, password })
    await admin.put(`/api/projects/${slug}/members/${user.body.id}`, { role })
    return new Client(url, await tokenFor(url, email, password))
  }

  let counter = 0
  const commit: Demo['commit'] = async (change) => {
    const dir = await mkdtemp(path.join(stack.dir, 'commit-'))
    try {
      return await commitIn(dir, change)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  const commitIn = async (dir: string, change: Parameters<Demo['commit']>[0]) => {
    await run('git', ['clone', '--quiet', '--', repo, dir])
    if (change.version) await writeFile(path.join(dir, 'VERSION'), `${change.version}\n`)
    for (const [file, content] of Object.entries(change.files ?? {}))
      await writeFile(path.join(dir, file), content)
    const env = {
      ...process.env,
      GIT_AUTHOR_NAME: 'E2E',
      GIT_AUTHOR_EMAIL: 'e2e@test',
      GIT_COMMITTER_NAME: 'E2E',
      GIT_COMMITTER_EMAIL: 'e2e@test',
    }
    await run('git', ['-C', dir, 'commit', '--quiet', '-am', change.message ?? `change ${++counter}`], {
      env,
    })
    await run('git', ['-C', dir, 'push', '--quiet', 'origin', 'HEAD:main'])
    const { stdout } = await run('git', ['-C', dir, 'rev-parse', 'HEAD'])
    return stdout.trim()
  }

  return {
    admin,
    developer: await member('developer'),
    tester: await member('tester'),
    viewer: await member('viewer'),
    project: { id: project.body.id, slug },
    repo,
    gatewayPorts,
    commit,
  }
}

/** Polls until `check` returns a value (not undefined), or fails with the last state seen. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 120_000,
  every = 250,
): Promise<T> {
  const deadline = Date.now() + ms
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await sleep(every)
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
}

export async function pipelineIn(client: Client, id: string, statuses: string[], ms?: number) {
  return eventually(
    `pipeline ${id} to be ${statuses.join(' or ')}`,
    async () => {
      const { body } = await client.get(`/api/pipelines/${id}`)
      return statuses.includes(body.status) ? body : undefined
    },
    ms,
  )
}

/** GET through the environment's gateway. */
export async function viaGateway(port: number, route = '/'): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(5000) })
  return { status: response.status, text: await response.text() }
}

/**
 * Commits a demo release whose build has a step that prints `note` and then takes `seconds`,
 * starts its pipeline and waits until the build runs. Returns the pipeline id.
 */
export async function startSlowBuild(
  demo: Demo,
  change: { version: string; note: string; seconds: number },
): Promise<string> {
  const sha = await demo.commit({
    version: change.version,
    files: {
      Dockerfile: `FROM slipway/busybox:1\nRUN echo ${change.note} && sleep ${change.seconds}\nCOPY www /www\nCOPY start.sh VERSION /app/\nENV PORT=8080\nCMD ["/app/start.sh"]\n`,
    },
  })
  const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
    sha,
    ref: 'main',
  })
  if (started.status !== 201) throw new Error(`the pipeline did not start: ${JSON.stringify(started.body)}`)
  await eventually('the build to run', async () => {
    const { body } = await demo.developer.get(`/api/pipelines/${started.body.id}`)
    return body.stages[0].status === 'running' ? true : undefined
  })
  return started.body.id
}

/** A stage's stored log: its lines ([seq, ms, text]) and their text joined by newlines. */
export async function storedLog(
  client: Client,
  stageId: string,
): Promise<{ lines: [number, number, string][]; text: string }> {
  const { body } = await client.get(`/api/stages/${stageId}/logs?limit=10000`)
  const lines = body.lines as [number, number, string][]
  return { lines, text: lines.map((line) => line[2]).join('\n') }
}
