import { randomUUID } from 'node:crypto'
import { startLoad } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, eventually, pipelineIn, setupDemo, storedLog, viaGateway } from './client.ts'
import { type Stack, startStack } from './stack.ts'

const webhookHeaders = (uuid = randomUUID()) => ({
  'content-type': 'application/json',
  'x-gitlab-event': 'Push Hook',
  'x-gitlab-token': 'e2e-webhook-secret',
  'x-gitlab-event-uuid': uuid,
})

function pushPayload(sha: string) {
  return {
    object_kind: 'push',
    before: `${'0'.repeat(39)}1`,
    after: sha,
    ref: 'refs/heads/main',
    checkout_sha: sha,
    user_username: 'dev',
    commits: [{ id: sha, message: 'e2e change\n', title: 'e2e change' }],
    total_commits_count: 1,
  }
}

describe('a commit walks to production', () => {
  let stack: Stack
  let demo: Demo

  beforeAll(async () => {
    stack = await startStack({ workers: 1 })
    demo = await setupDemo(stack)
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('push -> webhook -> build -> push -> pre-release -> approval -> production, same digest', async () => {
    const sha = await demo.commit({ version: '2.0.0', message: 'release 2.0.0' })
    const delivery = await fetch(`${stack.url}/api/webhooks/gitlab/${demo.project.id}`, {
      method: 'POST',
      headers: webhookHeaders(),
      body: JSON.stringify(pushPayload(sha)),
    })
    const reply = (await delivery.json()) as { outcome: string; pipelineId: string }
    expect(reply.outcome).toBe('started')

    const waiting = await pipelineIn(demo.developer, reply.pipelineId, ['waiting', 'failed'])
    expect(
      waiting.status,
      JSON.stringify(
        waiting.stages.map((s: { kind: string; status: string; error: string }) => [
          s.kind,
          s.status,
          s.error,
        ]),
      ),
    ).toBe('waiting')
    expect(waiting.stages.map((s: { kind: string; status: string }) => `${s.kind}:${s.status}`)).toEqual([
      'build:succeeded',
      'push:succeeded',
      'deploy:succeeded',
      'approval:waiting',
      'deploy:pending',
    ])
    expect(waiting.imageDigest).toMatch(/@sha256:[a-f0-9]{64}$/)
    const pre = await viaGateway(demo.gatewayPorts['pre-release'])
    expect(pre.text).toContain('demo 2.0.0 ENVT=pre-release')
    expect(pre.text).toContain(`PROJ=${demo.project.slug}`)

    // The build log was stored with Docker's own output and no secret.
    const build = waiting.stages[0]
    const { lines, text } = await storedLog(demo.developer, build.id)
    expect(text).toContain('[internal] load build definition from Dockerfile')
    expect(lines.map((line) => line[0])).toEqual(lines.map((_, i) => i + 1))

    // A viewer may not approve; a tester may (the pipeline came from a webhook, not from them).
    const approval = waiting.stages[3]
    const denied = await demo.viewer.post(
      `/api/pipelines/${reply.pipelineId}/stages/${approval.id}/approve`,
      { comment: 'lgtm' },
    )
    expect(denied.status).toBe(403)
    const approved = await demo.tester.post(
      `/api/pipelines/${reply.pipelineId}/stages/${approval.id}/approve`,
      {
        comment: 'verified on pre-release',
      },
    )
    expect(approved.status).toBe(200)
    // Clients keep coming to production while it deploys (503 until the first instance serves).
    const load = startLoad({
      port: demo.gatewayPorts.production,
      pauseMs: 50,
      maxRequests: 4000,
      maxMs: 120_000,
    })

    const done = await pipelineIn(demo.developer, reply.pipelineId, ['succeeded', 'failed'])
    const samples = await load.stop()
    expect(done.status).toBe('succeeded')
    const prod = await viaGateway(demo.gatewayPorts.production)
    expect(prod.text).toContain('demo 2.0.0 ENVT=production')

    const releases = await demo.developer.get(
      `/api/projects/${demo.project.slug}/environments/production/releases`,
    )
    expect(releases.body[0]).toMatchObject({ status: 'live', image: waiting.imageDigest, replicas: 2 })
    // What the gateway saw during the production rollout: the clients' requests, nothing
    // failed but the 503s of the empty environment before the first instance, which the
    // clients saw too.
    const traffic = releases.body[0].traffic
    expect(traffic).toMatchObject({ complete: true })
    expect(traffic.totals.requests).toBeGreaterThan(0)
    expect(traffic.totals.failedBy).toMatchObject({ connection: 0, app5xx: 0 })
    const seen503 = samples.filter((sample) => sample.status === 503).length
    expect(traffic.totals.failedBy.gateway5xx).toBeLessThanOrEqual(seen503)
    expect(samples.filter((sample) => sample.status !== 200 && sample.status !== 503)).toEqual([])
    const deployLog = await storedLog(demo.developer, done.stages[4].id)
    expect(deployLog.text).toMatch(/gateway during the rollout: \d+ requests/)
    const preReleases = await demo.developer.get(
      `/api/projects/${demo.project.slug}/environments/pre-release/releases`,
    )
    expect(preReleases.body[0].digest).toBe(releases.body[0].digest)

    const approvalState = await demo.developer.get(
      `/api/pipelines/${reply.pipelineId}/stages/${approval.id}/approval`,
    )
    expect(approvalState.body.approvals[0]).toMatchObject({
      user: 'tester@e2e.test',
      decision: 'approved',
      digest: waiting.imageDigest,
    })
  })

  it('a broken Dockerfile fails the build with Docker’s own error; build secrets are masked', async () => {
    const secret = await demo.admin.patch(`/api/projects/${demo.project.slug}`, {
      buildSecrets: { NPM_TOKEN: 'very-secret-token-123' },
    })
    expect(secret.body.buildSecrets).toEqual(['NPM_TOKEN'])
    expect(JSON.stringify(secret.body)).not.toContain('very-secret-token-123')
    const sha = await demo.commit({
      files: {
        // Build secrets are secret mounts (never build arguments).
        Dockerfile:
          'FROM slipway/busybox:1\nRUN --mount=type=secret,id=NPM_TOKEN echo "token is $(cat /run/secrets/NPM_TOKEN)" && exit 7\n',
      },
    })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      ref: 'main',
      sha,
    })
    expect(started.status).toBe(201)
    const failed = await pipelineIn(demo.developer, started.body.id, ['failed', 'succeeded'])
    expect(failed.status).toBe('failed')
    const [build, ...rest] = failed.stages
    expect(build.status).toBe('failed')
    expect(build.error).toMatch(/exit code: 7/)
    expect(rest.every((stage: { status: string }) => stage.status === 'skipped')).toBe(true)
    const { text } = await storedLog(demo.developer, build.id)
    expect(text).toContain('exit code: 7')
    expect(text).toContain('token is ••••••')
    expect(text).not.toContain('very-secret-token-123')
    expect(build.error).not.toContain('very-secret-token-123')
    await demo.admin.patch(`/api/projects/${demo.project.slug}`, { buildSecrets: { NPM_TOKEN: null } })
  })

  it('cancel during a build stops the build', async () => {
    const sha = await demo.commit({
      files: { Dockerfile: 'FROM slipway/busybox:1\nRUN echo slow build && sleep 60\nCOPY . /app\n' },
    })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    const buildId = started.body.stages[0].id
    await eventually('the build to print', async () => {
      return (await storedLog(demo.developer, buildId)).text.includes('slow build') ? true : undefined
    })
    const canceled = await demo.developer.post(`/api/pipelines/${started.body.id}/cancel`)
    expect(canceled.status).toBe(200)
    const done = await pipelineIn(
      demo.developer,
      started.body.id,
      ['canceled', 'failed', 'succeeded'],
      30_000,
    )
    expect(done.status).toBe('canceled')
    expect(done.stages[0].status).toBe('canceled')
  })
})
