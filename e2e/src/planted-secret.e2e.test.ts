import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { servePrivateRepo } from '@slipway/testing'
import { fleet, pulledFromRegistry, recordRow } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, eventually, pipelineIn, setupDemo, storedLog } from './client.ts'
import {
  crawlGets,
  failingReceiver,
  SecretSearch,
  searchContainers,
  searchDatabase,
  searchFiles,
  searchRedis,
} from './secret-search.ts'
import { type Stack, startStack } from './stack.ts'

/**
 * Issue 15, access: one secret planted everywhere a user can put one, searched for after a
 * pipeline went to production in every API answer, log file, database row, Redis key, the
 * pushed image and every container Slipway started.
 */
/** `(200×40, 403×10)` */
const statusText = (statuses: Record<string, number>) =>
  `(${Object.entries(statuses)
    .map(([status, count]) => `${status}×${count}`)
    .join(', ')})`

describe('a planted secret', () => {
  let stack: Stack
  let demo: Demo
  let repo: Awaited<ReturnType<typeof servePrivateRepo>>
  let receiver: Awaited<ReturnType<typeof failingReceiver>>
  const planted = `slipway-planted-${randomBytes(12).toString('hex')}`

  beforeAll(async () => {
    stack = await startStack({ workers: 1 })
    demo = await setupDemo(stack, { prodHosts: ['prod-1'], prodReplicas: 1 })
    repo = await servePrivateRepo(demo.repo, 'x-token', planted)
    receiver = await failingReceiver()
  })
  afterAll(async () => {
    await repo?.close()
    await receiver?.close()
    await stack?.stop()
  })

  it('is found nowhere it must not be: API answers, logs, database, Redis, image, containers', async () => {
    const { admin, developer, tester, project } = demo
    const slug = project.slug
    const writes: Array<{ what: string; status: number; body: unknown }> = []
    const write = async (what: string, reply: Promise<{ status: number; body: unknown }>) => {
      const { status, body } = await reply
      writes.push({ what, status, body })
      return { status, body: body as any }
    }

    // Plant it: git URL credentials, build secret, webhook token, GitLab token, config secret
    // of both environments, a registry password, a notification hook's signing key, a user's
    // password; a password in a notification URL or the GitLab URL is refused.
    const edited = await write(
      'PATCH project',
      admin.patch(`/api/projects/${slug}`, {
        gitUrl: repo.url,
        webhookSecret: planted,
        buildSecrets: { PLANTED_TOKEN: planted },
        gitlab: { baseUrl: `http://127.0.0.1:${receiver.port}`, project: 'group/app', token: planted },
      }),
    )
    expect(edited.status).toBe(200)
    for (const environment of ['pre-release', 'production'])
      expect(
        (
          await write(
            `PATCH ${environment} config`,
            admin.patch(`/api/projects/${slug}/environments/${environment}/config`, {
              variables: { VISIBLE: 'not-a-secret' },
              secrets: { PLANTED_SECRET: planted },
            }),
          )
        ).status,
      ).toBe(200)
    const registry = await write(
      'POST registry',
      admin.post('/api/registries', {
        name: 'planted',
        url: '127.0.0.1:5999',
        username: 'u',
        password: planted,
      }),
    )
    expect(registry.status).toBe(201)
    // A URL shown to people may not carry a password: refused, naming the field.
    const withPassword = `http://hook:${planted}@127.0.0.1:${receiver.port}/hook`
    const refusedHook = await write(
      'POST notification hook, password in its URL',
      admin.post(`/api/projects/${slug}/notification-hooks`, { url: withPassword, secret: planted }),
    )
    expect(refusedHook.status).toBe(400)
    expect(JSON.stringify(refusedHook.body)).toContain('body.url')
    const refusedGitlab = await write(
      'PATCH project, password in the GitLab URL',
      admin.patch(`/api/projects/${slug}`, {
        gitlab: { baseUrl: withPassword, project: 'group/app', token: planted },
      }),
    )
    expect(refusedGitlab.status).toBe(400)
    expect(JSON.stringify(refusedGitlab.body)).toContain('body.gitlab.baseUrl')
    const hook = await write(
      'POST notification hook',
      admin.post(`/api/projects/${slug}/notification-hooks`, {
        url: `http://127.0.0.1:${receiver.port}/hook`,
        secret: planted,
      }),
    )
    expect(hook.status).toBe(201)
    const user = await write(
      'POST user',
      admin.post('/api/users', { email: 'planted@e2e.test', name: 'Planted', password: planted }),
    )
    expect(user.status).toBe(201)
    const login = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'planted@e2e.test', password: planted }),
    })
    writes.push({ what: 'login', status: login.status, body: await login.text() })
    expect(login.status).toBe(200)
    const wrongLogin = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@e2e.test', password: planted }),
    })
    writes.push({ what: 'failed login', status: wrongLogin.status, body: await wrongLogin.text() })
    expect(wrongLogin.status).toBe(401)

    // A release whose build reads the secret through a secret mount and tries to print it.
    // An error message naming the repository (no such branch) names it without credentials.
    const noBranch = await write(
      'POST pipeline of an unknown branch',
      developer.post(`/api/projects/${slug}/pipelines`, { ref: 'no-such-branch' }),
    )
    expect(noBranch.status).toBe(400)
    const sha = await demo.commit({
      version: '7.0.0',
      files: {
        Dockerfile:
          'FROM slipway/busybox:1\n' +
          'RUN --mount=type=secret,id=PLANTED_TOKEN sha256sum /run/secrets/PLANTED_TOKEN > /token.sha256 && ' +
          `echo "token is $(cat /run/secrets/PLANTED_TOKEN)" # ${randomUUID()}\n` +
          'COPY www /www\nCOPY start.sh VERSION /app/\nENV PORT=8080\nCMD ["/app/start.sh"]\n',
      },
    })
    await repo.refresh()
    const deliver = (token: string) =>
      fetch(`${stack.url}/api/webhooks/gitlab/${project.id}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-gitlab-event': 'Push Hook',
          'x-gitlab-token': token,
          'x-gitlab-event-uuid': randomUUID(),
        },
        body: JSON.stringify({
          object_kind: 'push',
          before: '0'.repeat(40),
          after: sha,
          ref: 'refs/heads/main',
          checkout_sha: sha,
          commits: [{ id: sha, message: 'planted\n' }],
          total_commits_count: 1,
        }),
      })
    const refused = await deliver(`${planted}-wrong`)
    writes.push({ what: 'webhook, wrong token', status: refused.status, body: await refused.text() })
    expect(refused.status).toBe(401)
    const delivered = await deliver(planted)
    const reply = (await delivered.json()) as { outcome: string; pipelineId: string }
    writes.push({ what: 'webhook', status: delivered.status, body: reply })
    expect(reply.outcome).toBe('started')

    const waiting = await pipelineIn(developer, reply.pipelineId, ['waiting', 'failed'])
    expect(waiting.status, JSON.stringify(waiting.stages)).toBe('waiting')
    const approval = waiting.stages[3]
    const approved = await write(
      'approve',
      tester.post(`/api/pipelines/${reply.pipelineId}/stages/${approval.id}/approve`, { comment: 'ok' }),
    )
    expect(approved.status).toBe(200)
    const done = await pipelineIn(developer, reply.pipelineId, ['succeeded', 'failed'])
    expect(done.status, JSON.stringify(done.stages)).toBe('succeeded')
    // The GitLab token and the hook were used (and failed: the receiver answers 500).
    await eventually('GitLab statuses and a notification attempt', async () => {
      const deliveries = await admin.get(
        `/api/projects/${slug}/notification-hooks/${hook.body.id}/deliveries`,
      )
      const tried = (deliveries.body as Array<{ attempts: number }>).some((d) => d.attempts > 0)
      return tried && receiver.received.some((r) => r.url.includes('/statuses/')) ? true : undefined
    })
    expect(receiver.received.find((r) => r.url.includes('/statuses/'))?.headers['private-token']).toBe(
      planted,
    )
    expect(repo.authorized()).toBeGreaterThan(0)

    // Search. The needles: the planted value, and the real credentials the stack runs with.
    const f = fleet()
    const keyLine = f.tls.key.split('\n').find((line) => line.length >= 60) ?? ''
    const search = new SecretSearch([
      { name: 'planted', value: planted },
      { name: 'registry password', value: f.registry.password },
      { name: "admin's API token", value: admin.token ?? '' },
      { name: "developer's API token", value: developer.token ?? '' },
      { name: 'hosts TLS key', value: keyLine },
    ])
    for (const w of writes) search.look(`answer to ${w.what} (${w.status})`, JSON.stringify(w.body))

    const pipelines = [done]
    const stageIds = done.stages.map((s: { id: string }) => s.id)
    const instances = await Promise.all(
      ['pre-release', 'production'].map(async (environment) => {
        const { body } = await admin.get(`/api/projects/${slug}/environments/${environment}/instances`)
        return (body.instances as Array<{ host: string; containerId: string }>).map((i) => ({
          ...i,
          environment,
        }))
      }),
    )
    const containers = instances.flat()
    expect(containers.length).toBe(2)
    const values = (name: string, route: string, filled: Record<string, string>): string[] => {
      if (name === 'project') return [slug]
      if (name === 'environment') return ['pre-release', 'production']
      if (name === 'stageId') return [approval.id]
      // (the instances of the environment already chosen, each on its own host)
      const here = containers.filter((c) => c.environment === filled.environment)
      if (name === 'host') return [...new Set(here.map((c) => c.host))]
      if (name === 'containerId') return here.filter((c) => c.host === filled.host).map((c) => c.containerId)
      if (name === 'id' && route.startsWith('/api/pipelines/')) return pipelines.map((p) => p.id)
      if (name === 'id' && route.startsWith('/api/stages/')) return stageIds
      if (name === 'id' && route.includes('/notification-hooks/')) return [hook.body.id]
      return []
    }
    const asAdmin = await crawlGets(stack.url, admin.token ?? '', values, search, 'admin')
    const asDeveloper = await crawlGets(stack.url, developer.token ?? '', values, search, 'developer')
    // (a 5xx answer could hide what it would have shown)
    for (const statuses of [asAdmin.statuses, asDeveloper.statuses])
      expect(Object.keys(statuses).filter((status) => Number(status) >= 500)).toEqual([])
    const files = await searchFiles(stack.dir, search)
    const database = await searchDatabase(stack.db, search)
    const redis = await searchRedis(stack.redis, stack.prefix, search)
    const image = await pulledFromRegistry(f, `e2e/${slug}`, done.imageDigest.split('@')[1])
    search.look('image config (with its history)', image.config)
    search.look('image manifest', JSON.stringify(image.manifest))
    for (const [i, layer] of image.layers.entries()) search.look(`image layer ${i}`, layer)
    const onHosts = await searchContainers(slug, search)

    // The build did read the secret (its layer holds the secret's hash) ...
    const hashOfSecret = createHash('sha256').update(planted).digest('hex')
    expect(image.layers.some((layer) => layer.includes(hashOfSecret))).toBe(true)
    // ... and tried to print it: the build log shows it masked.
    expect((await storedLog(developer, done.stages[0].id)).text).toContain('token is ••••••')
    // ... and each container got it in its env: the one place it is meant to be.
    expect(onHosts.containers).toBe(2)
    for (const env of onHosts.envs) expect(env).toContain(`PLANTED_SECRET=${planted}`)
    // Anything found fails: the git URL's credentials too are encrypted at rest (the Project
    // row keeps the URL without them), though git fetched with them (`repo.authorized()`).
    expect(search.findings).toEqual([])
    const row = await stack.db.project.findUniqueOrThrow({ where: { id: project.id } })
    expect(row.gitUrl).toBe(repo.url.replace(`x-token:${planted}@`, ''))
    expect(row.gitCredentialsEnc).toMatch(/^v1\./)

    const responses = asAdmin.responses + asDeveloper.responses + writes.length
    await recordRow({
      section: 'access',
      id: 'access-planted-secret',
      done:
        'One secret planted everywhere a user can put one (git URL credentials, build secret read by a ' +
        'RUN --mount=type=secret, webhook token, GitLab token, a secret config value of each environment, ' +
        "a registry password, a notification hook's signing key, a user's password; a password in a " +
        'notification URL or in the GitLab URL, refused with 400), a ' +
        'pipeline run from a webhook through build, push, pre-release, approval and production, then ' +
        'that secret and the real credentials the stack runs with (registry password, API tokens, the ' +
        "hosts' TLS key) searched for everywhere",
      expected:
        'Found nowhere: not in any API answer (every GET route of the OpenAPI document as an admin and as ' +
        'a developer, and the answers to the writes), not in the API and worker log files, not in any ' +
        'database row (as text), not in any Redis key or value, not in the pushed image (config, history, ' +
        "layers), not in any container's inspect or labels; only in the containers' env, where a runtime " +
        "secret is meant to be (the git URL's credentials are encrypted in the Project row, the URL without them beside)",
      observed:
        `searched ${responses} API answers (${asAdmin.routes} GET routes; ${asAdmin.responses} as admin ` +
        `${statusText(asAdmin.statuses)}, ${asDeveloper.responses} as developer ` +
        `${statusText(asDeveloper.statuses)}, ${writes.length} writes), ` +
        `${files.files} files of the stack (${files.logBytes} bytes of API and worker logs), ` +
        `${database.rows} rows of ${database.tables} tables, ${redis.keys} Redis keys, ` +
        `${image.layers.length} image layers and its config, ${onHosts.containers} containers with their ` +
        "images: found in none of them, except the containers' env (meant to hold it); the Project row " +
        'holds the git URL without its credentials and them encrypted, git fetched with them; ' +
        "the build's layer holds the secret's hash (the RUN read it)",
      figures: {
        apiResponses: responses,
        logBytes: files.logBytes,
        files: files.files,
        databaseRows: database.rows,
        redisKeys: redis.keys,
        imageLayers: image.layers.length,
        containers: onHosts.containers,
      },
      test: 'e2e/src/planted-secret.e2e.test.ts',
      ci: true,
    })
  })
})
