import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { fleet, recordRow, secondsSince } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, eventually, pipelineIn, setupDemo, storedLog, viaGateway } from './client.ts'
import { followStageLog } from './report/live-log.ts'
import { type Stack, startStack } from './stack.ts'

/**
 * The workers' stage lease here: a dead worker's stage is taken over once it expires (30 s by
 * default; shorter keeps the takeover test short, still three heartbeats long).
 */
const leaseSeconds = 10

type StageRow = { id: string; kind: string; status: string; attempt: number; error: string | null }

describe('pipelines survive failures', () => {
  let stack: Stack
  let demo: Demo

  beforeAll(async () => {
    stack = await startStack({ workers: 1, workerEnv: { STAGE_LEASE_SECONDS: String(leaseSeconds) } })
    demo = await setupDemo(stack, { prodReplicas: 1, prodHosts: ['prod-1'] })
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('a worker killed mid-build: another worker takes the stage over and the pipeline finishes', async () => {
    const sha = await demo.commit({
      version: '3.0.0',
      files: {
        Dockerfile:
          // The project's slug makes the step new for this run: a build cache of an earlier run
          // on the same build host would skip it (its header still names it) and end the build at once.
          `FROM slipway/busybox:1\nRUN echo long step for ${demo.project.slug} && sleep 8\nCOPY www /www\nCOPY start.sh VERSION /app/\nENV PORT=8080\nCMD ["/app/start.sh"]\n`,
      },
    })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    const buildId: string = started.body.stages[0].id
    // The step's own output (BuildKit: `#5 0.123 long step for ...`), from the live log.
    const follower = followStageLog(demo.developer, buildId)
    try {
      await follower.waitFor(/^#\d+ [\d.]+ long step for /, 120_000)
    } finally {
      follower.close()
    }
    const [first] = [...stack.workers.keys()]
    await stack.killWorker(first!)
    const killedAt = Date.now()
    await stack.startWorker('w2')

    const waiting = await pipelineIn(demo.developer, started.body.id, ['waiting', 'failed'], 180_000)
    expect(waiting.status).toBe('waiting')
    const build = waiting.stages.find((s: StageRow) => s.kind === 'build')
    expect(build.status).toBe('succeeded')
    expect(build.attempt).toBe(2)
    const { lines, text } = await storedLog(demo.developer, buildId)
    expect(text).toContain('attempt 1 · worker w1')
    expect(text).toContain('attempt 2 · worker w2')
    // Every line survived the crash, numbered without gaps.
    expect(lines.map((line) => line[0])).toEqual(lines.map((_, i) => i + 1))
    expect((await viaGateway(demo.gatewayPorts['pre-release'])).text).toContain('demo 3.0.0')
    const recoverySeconds = secondsSince(killedAt)
    const takeover = lines.find((line) => line[2].includes('attempt 2 · worker w2'))!
    const takeoverSeconds = Math.round((takeover[1] - killedAt) / 100) / 10
    await recordRow({
      section: 'fault',
      id: 'worker-killed-during-build',
      done: 'SIGKILL of the only worker during a build step (an 8 s RUN); a new worker started',
      expected: `the new worker takes the build over as attempt 2 (after the dead worker’s ${leaseSeconds} s lease), the pipeline reaches pre-release, every log line is kept (numbered without gaps) and names both attempts`,
      observed: `attempt 2 began on w2 ${takeoverSeconds} s after the kill; the pipeline waited for its production approval ${recoverySeconds} s after the kill with pre-release on 3.0.0; ${lines.length} log lines numbered 1..${lines.length}`,
      recoverySeconds,
      figures: { takeoverSeconds },
      test: 'e2e/src/resilience.e2e.test.ts',
      ci: true,
    })
  })

  it('an unreachable registry fails the push with a clear reason after retries', async () => {
    const registry = await demo.admin.post('/api/registries', { name: 'nowhere', url: '127.0.0.1:1' })
    const broken = await demo.admin.patch(`/api/projects/${demo.project.slug}`, {
      registryId: registry.body.id,
    })
    expect(broken.status).toBe(200)
    try {
      const sha = await demo.commit({ version: '3.0.1' })
      const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
        sha,
        ref: 'main',
      })
      const startedAt = Date.now()
      const failed = await pipelineIn(demo.developer, started.body.id, ['failed', 'waiting'], 180_000)
      expect(failed.status).toBe('failed')
      const push = failed.stages.find((s: StageRow) => s.kind === 'push')
      expect(push.status).toBe('failed')
      expect(push.attempt).toBe(3)
      expect(push.error).toMatch(/127\.0\.0\.1:1/)
      expect(push.error).toMatch(/connection refused|dial tcp/)
      const failedSeconds = secondsSince(startedAt)
      await recordRow({
        section: 'fault',
        id: 'registry-unreachable-push-fails',
        done: 'a pipeline pushing to a registry that refuses every connection (127.0.0.1:1)',
        expected:
          'the push is tried 3 times, then the stage and the pipeline fail, naming the registry’s address and the connection error',
        observed: `the pipeline failed ${failedSeconds} s after it started, the push on attempt ${push.attempt}: "${push.error}"`,
        recoverySeconds: failedSeconds,
        test: 'e2e/src/resilience.e2e.test.ts',
        ci: true,
      })
    } finally {
      const local = (await demo.admin.get('/api/registries')).body.find(
        (r: { name: string }) => r.name === 'local',
      )
      await demo.admin.patch(`/api/projects/${demo.project.slug}`, { registryId: local.id })
    }
  })

  it('a second pipeline waits for the deploy lease; an older pipeline never deploys over a newer release', async () => {
    // The older release takes 6 s to listen, so its pre-release deploy holds the lease while the
    // newer pipeline builds and asks for it. The newer one must deploy second: deploying the
    // older one over it would be refused (that refusal is checked in production below).
    const startScript = await readFile(`${fleet().root}/docker/demo-app/start.sh`, 'utf8')
    const older = await demo.commit({
      version: '4.0.0',
      files: { 'start.sh': startScript.replace(/^port=/m, 'sleep 6\nport=') },
    })
    const newer = await demo.commit({ version: '4.1.0', files: { 'start.sh': startScript } })
    const first = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha: older,
      ref: 'main',
    })
    await eventually('the older pipeline deploying to pre-release', async () => {
      const { body } = await demo.developer.get(`/api/pipelines/${first.body.id}`)
      return body.stages.find((s: StageRow) => s.kind === 'deploy' && s.status === 'running')
    })
    // A different ref, so the second does not supersede the first (the SHA must be on it).
    await promisify(execFile)('git', ['--git-dir', demo.repo, 'update-ref', 'refs/heads/v-newer', newer])
    const second = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha: newer,
      ref: 'v-newer',
    })
    const a = await pipelineIn(demo.developer, first.body.id, ['waiting', 'failed'], 180_000)
    const b = await pipelineIn(demo.developer, second.body.id, ['waiting', 'failed'], 180_000)
    expect([a.status, b.status]).toEqual(['waiting', 'waiting'])
    const preDeploys = [a, b].map((p) =>
      p.stages.find((s: StageRow & { startedAt: string; finishedAt: string }) => s.kind === 'deploy'),
    )
    // One deploy at a time in pre-release: the two never overlapped.
    const [x, y] = preDeploys.sort((p: { startedAt: string }, q: { startedAt: string }) =>
      p.startedAt.localeCompare(q.startedAt),
    )
    expect(new Date(y.startedAt).getTime()).toBeGreaterThanOrEqual(new Date(x.finishedAt).getTime())

    // Promote the newer one first; then the older one is refused in production.
    const approve = (p: { id: string; stages: StageRow[] }) =>
      demo.tester.post(
        `/api/pipelines/${p.id}/stages/${p.stages.find((s) => s.kind === 'approval')!.id}/approve`,
        {
          comment: 'ok',
        },
      )
    await approve(b)
    expect((await pipelineIn(demo.developer, b.id, ['succeeded', 'failed'])).status).toBe('succeeded')
    await approve(a)
    const refused = await pipelineIn(demo.developer, a.id, ['succeeded', 'failed'])
    expect(refused.status).toBe('failed')
    expect(refused.stages.at(-1).error).toMatch(
      /refusing to deploy pipeline #\d+ over #\d+, which is already live in production/,
    )
    expect((await viaGateway(demo.gatewayPorts.production)).text).toContain('demo 4.1.0')
  })

  it('rollback goes back to the previous release by digest, through the same rolling path', async () => {
    const releases = await demo.developer.get(
      `/api/projects/${demo.project.slug}/environments/pre-release/releases`,
    )
    const live = releases.body.find((r: { status: string }) => r.status === 'live')
    const previous = releases.body.find(
      (r: { status: string; number: number }) => r.status === 'superseded' && r.number < live.number,
    )
    const viewerTry = await demo.viewer.post(
      `/api/projects/${demo.project.slug}/environments/pre-release/rollback`,
      {},
    )
    expect(viewerTry.status).toBe(403)
    const rollback = await demo.developer.post(
      `/api/projects/${demo.project.slug}/environments/pre-release/rollback`,
      {},
    )
    expect(rollback.status).toBe(201)
    expect(rollback.body.trigger).toBe('rollback')
    const done = await pipelineIn(demo.developer, rollback.body.id, ['succeeded', 'failed'])
    expect(done.status).toBe('succeeded')
    const after = await demo.developer.get(
      `/api/projects/${demo.project.slug}/environments/pre-release/releases`,
    )
    expect(after.body[0]).toMatchObject({ kind: 'rollback', status: 'live', digest: previous.digest })
  })
})
