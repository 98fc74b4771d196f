import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { HaproxyProcess } from '@slipway/gateway'
import {
  failures,
  fleet,
  freePort,
  PrivatePostgres,
  type ReliabilityRow,
  recordRow,
  type Sample,
  secondsSince,
  startLoad,
} from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Demo,
  eventually,
  pipelineIn,
  setupDemo,
  startSlowBuild,
  storedLog,
  viaGateway,
} from '../client.ts'
import { PrivateRedis } from '../private-redis.ts'
import { type Stack, startStack } from '../stack.ts'
import { removeProjectFromFleet } from './fleet-truth.ts'
import { containersOf, expectWhole, killGateway, RegistryRelay, siteTruth } from './infra.ts'

const test = 'e2e/src/report/infra-faults.report.test.ts'
type StageRow = { id: string; kind: string; status: string; attempt: number; error: string | null }
type PipelineRow = { id: string; status: string; stages: StageRow[] }

// Infrastructure faults on the real fleet, through one stack of this file alone: its own
// Redis (append-only file) and PostgreSQL, its own gateway HAProxy, production on prod-1..3
// with 3 instances. Each row checks afterwards that no container is left over on any host,
// that the gateway routes exactly to the live instances, and that no pipeline went missing.
describe('infrastructure faults (report)', () => {
  let stack: Stack
  let demo: Demo
  let redis: PrivateRedis
  let redisDir: string
  let postgres: PrivatePostgres
  let relay: RegistryRelay | undefined
  let restartedGateway: HaproxyProcess | undefined
  const pipelines: string[] = []
  let first: PipelineRow

  beforeAll(async () => {
    redisDir = await mkdtemp(path.join(tmpdir(), 'slipway-redis-'))
    redis = new PrivateRedis(await freePort(), redisDir, { persist: true })
    await redis.start()
    postgres = await PrivatePostgres.create(await freePort())
    stack = await startStack({ workers: 1, redisUrl: redis.url, databaseUrl: postgres.url })
    demo = await setupDemo(stack, { prodHosts: ['prod-1', 'prod-2', 'prod-3'], prodReplicas: 3 })
  })
  afterAll(async () => {
    await stack?.stop().catch(() => undefined)
    if (demo) await removeProjectFromFleet(demo.project.slug, `e2e/${demo.project.slug}`)
    await restartedGateway?.stop()
    await relay?.remove()
    await redis?.stop()
    await postgres?.remove()
    if (redisDir) await rm(redisDir, { recursive: true, force: true })
  })

  const prod = () => demo.gatewayPorts.production
  /** Every pipeline this file started is still there. */
  const allPresent = async () => {
    const found = await Promise.all(pipelines.map((id) => demo.admin.get(`/api/pipelines/${id}`)))
    expect(found.map((reply) => reply.status)).toEqual(pipelines.map(() => 200))
    return found.length
  }
  const approve = async (pipeline: PipelineRow) => {
    const approval = pipeline.stages.find((s) => s.kind === 'approval')
    const reply = await demo.tester.post(`/api/pipelines/${pipeline.id}/stages/${approval?.id}/approve`, {
      comment: 'ok',
    })
    expect(reply.status).toBe(200)
  }
  /** Kept-alive clients on production's gateway (4 connections, bounded in count and time). */
  const keptAlive = () =>
    startLoad({ port: prod(), concurrency: 4, pauseMs: 50, maxRequests: 20_000, maxMs: 180_000 })
  const redeployProduction = async () => {
    const started = await demo.admin.post(
      `/api/projects/${demo.project.slug}/environments/production/redeploy`,
      {},
    )
    expect(started.status).toBe(201)
    pipelines.push(started.body.id)
    return started.body.id as string
  }
  /** Waits until the rollout has started a container that was not there before. */
  const newInstanceStarted = (before: string[]) =>
    eventually(
      'a new production instance',
      async () => (await containersOf(demo, 'production')).find((id) => !before.includes(id)),
      60_000,
      100,
    )
  const endOf = (id: string, statuses: string[], ms = 120_000) =>
    pipelineIn(demo.admin, id, statuses, ms) as Promise<PipelineRow>
  /** One report-only fault row of this file. */
  const record = (row: Omit<ReliabilityRow, 'section' | 'test' | 'ci'>) =>
    recordRow({ section: 'fault', test, ci: false, ...row })
  const requests = (samples: Sample[]) => ({ failed: failures(samples).length, total: samples.length })

  it('redis-restarted-during-pipeline: Redis restarts cleanly mid-build; the pipeline goes on, nothing lost', async () => {
    const id = await startSlowBuild(demo, {
      version: '10.0.0',
      note: 'building while redis restarts',
      seconds: 6,
    })
    pipelines.push(id)
    const marker = `${stack.prefix}:infra-marker`
    await stack.redis.set(marker, 'kept')
    const faultAt = Date.now()
    await redis.stop()
    await sleep(2000)
    await redis.start()

    const ended = await endOf(id, ['waiting', 'failed', 'succeeded', 'canceled'])
    const recoverySeconds = secondsSince(faultAt)
    expect(await stack.redis.get(marker)).toBe('kept')
    expect(ended.status).toBe('waiting')
    expect(ended.stages.map((s) => s.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'waiting',
      'pending',
    ])
    const build = ended.stages[0]!
    const { lines, text } = await storedLog(demo.developer, build.id)
    expect(lines.map((line) => line[0])).toEqual(lines.map((_, index) => index + 1))
    expect(text).toContain('building while redis restarts')
    expect(text).toMatch(/✔ build succeeded/)
    expect((await viaGateway(demo.gatewayPorts['pre-release'])).text).toContain('demo 10.0.0')
    const pre = await expectWhole(stack, demo, 'pre-release')
    const count = await allPresent()
    first = ended

    await record({
      id: 'redis-restarted-during-pipeline',
      done: 'Redis (append-only file on) stopped with SIGTERM during a 6 s build and started again 2 s later, keeping its data',
      expected:
        'within 120 s the pipeline reaches its production approval with build, push and pre-release deploy succeeded; the build log numbered without a gap; no pipeline missing; no leftover container; the gateway routes exactly to the live instances',
      observed: `"waiting" ${recoverySeconds} s after the stop, the build on attempt ${build.attempt}, ${lines.length} log lines numbered 1..${lines.length}; ${count} of ${count} pipelines present; pre-release: ${pre.containers.length} container(s) = ${pre.gateway.length} gateway server(s) = the live instance(s)`,
      recoverySeconds,
    })
  })

  it('postgres-restarted-during-rollout: PostgreSQL crashes mid-rollout; the rollout finishes, 0 failed requests', async () => {
    // Production's first release (3 instances), without a fault: the row's baseline.
    await approve(first)
    expect((await endOf(first.id, ['succeeded', 'failed'])).status).toBe('succeeded')
    const before = (await expectWhole(stack, demo, 'production')).containers

    const load = keptAlive()
    const id = await redeployProduction()
    await newInstanceStarted(before)
    const faultAt = Date.now()
    await postgres.crash()
    await sleep(8000)
    await postgres.start()
    const ended = await endOf(id, ['succeeded', 'failed', 'canceled'])
    const recoverySeconds = secondsSince(faultAt)
    const samples = await load.stop()

    expect(ended.status, JSON.stringify(ended.stages)).toBe('succeeded')
    expect(samples.length).toBeGreaterThan(100)
    expect(failures(samples)).toEqual([])
    const after = await expectWhole(stack, demo, 'production')
    // Every instance was replaced by the redeploy's; none of the old ones is left anywhere.
    expect(after.containers.filter((c) => before.includes(c))).toEqual([])
    const deploy = ended.stages.find((s) => s.kind === 'deploy')!
    const count = await allPresent()

    await record({
      id: 'postgres-restarted-during-rollout',
      done: 'PostgreSQL crashed (pg_ctl -m immediate) once a production redeploy of 3 instances on prod-1..3 had started its first new container, and started again 8 s later, with 4 kept-alive clients on the gateway',
      expected:
        'the rollout finishes within 120 s; 0 failed requests (old instances serve until new ones replace them); 3 instances of the new release, no leftover container on any host, the gateway routes exactly to them; no pipeline missing',
      observed: `the redeploy succeeded ${recoverySeconds} s after the crash (deploy attempt ${deploy.attempt}); ${failures(samples).length} of ${samples.length} requests failed; production: ${after.containers.length} containers = ${after.gateway.length} gateway servers = the live release's instances; ${count} of ${count} pipelines present`,
      recoverySeconds,
      requests: requests(samples),
    })
  })

  it('registry-down-during-pull: the registry is unreachable while production pulls; the old release serves on', async () => {
    relay = await RegistryRelay.start()
    const { username, password } = fleet().registry
    const registry = await demo.admin.post('/api/registries', {
      name: 'relay',
      url: relay.url,
      username,
      password,
    })
    expect(registry.status).toBe(201)
    expect(
      (await demo.admin.patch(`/api/projects/${demo.project.slug}`, { registryId: registry.body.id })).status,
    ).toBe(200)
    const toApproval = async (start: () => Promise<{ status: number; body: { id: string } }>) => {
      const started = await start()
      expect(started.status).toBe(201)
      pipelines.push(started.body.id)
      const waiting = await endOf(started.body.id, ['waiting', 'failed'], 150_000)
      expect(waiting.status).toBe('waiting')
      return waiting
    }
    const sha = await demo.commit({ version: '10.2.0' })
    const waiting = await toApproval(() =>
      demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, { sha, ref: 'main' }),
    )
    const before = await expectWhole(stack, demo, 'production')
    const servedBefore = /demo [0-9.]+ /.exec((await viaGateway(prod())).text)?.[0] ?? 'no version'
    const load = keptAlive()

    // 1. Away for longer than the deploy's two attempts: the stage fails, nothing changes.
    await relay.down()
    const longFaultAt = Date.now()
    await approve(waiting)
    const failed = await endOf(waiting.id, ['succeeded', 'failed'], 90_000)
    const failedAfter = secondsSince(longFaultAt)
    expect(failed.status).toBe('failed')
    const deploy = failed.stages.at(-1)!
    expect(deploy).toMatchObject({ kind: 'deploy', status: 'failed', attempt: 2 })
    expect(deploy.error).toMatch(/prod-[123]/)
    expect(deploy.error).toContain(relay.url)
    const during = await expectWhole(stack, demo, 'production')
    expect(during.containers).toEqual(before.containers)
    expect(during.live).toBe(before.live)
    expect((await viaGateway(prod())).text).toContain(servedBefore)

    // 2. Away for less than the retry's backoff (2 s): the same commit again (a rerun; the
    // pull is needed again, nothing reached production), the registry back as soon as the
    // first attempt has failed: the second attempt deploys.
    await relay.up()
    const rerun = await toApproval(() => demo.developer.post(`/api/pipelines/${waiting.id}/rerun`))
    await relay.down()
    const shortFaultAt = Date.now()
    await approve(rerun)
    const firstFailure = await eventually(
      'the first deploy attempt to fail',
      async () => {
        const { body } = await demo.developer.get(`/api/pipelines/${rerun.id}`)
        const stage = (body as PipelineRow).stages.at(-1)!
        return stage.attempt === 1 && stage.status !== 'running' && stage.error ? stage.error : undefined
      },
      60_000,
      100,
    )
    await relay.up()
    const backAt = Date.now()
    const done = await endOf(rerun.id, ['succeeded', 'failed'])
    const recoverySeconds = secondsSince(shortFaultAt)
    const samples = await load.stop()
    expect(done.status, JSON.stringify(done.stages.at(-1))).toBe('succeeded')
    expect(done.stages.at(-1)?.attempt).toBe(2)
    expect(failures(samples)).toEqual([])
    expect((await viaGateway(prod())).text).toContain('demo 10.2.0')
    const after = await expectWhole(stack, demo, 'production')
    const count = await allPresent()

    await record({
      id: 'registry-down-during-pull',
      done: "the project's registry made unreachable (a relay of this test in front of the fleet registry, closed: connection refused) just before a production deploy pre-pulls the new image on prod-1..3, with 4 kept-alive clients: once for longer than the deploy's two attempts, once only until its first attempt had failed",
      expected:
        'the deploy stage tries twice, 2 s apart: away for both, it fails within 90 s with a reason naming the host and the registry, nothing starts and the old release serves on; back before the second attempt, that attempt deploys; 0 failed requests throughout; no leftover container, the gateway routes exactly to the live instances; no pipeline missing',
      observed: `away for both attempts: the stage failed ${failedAfter} s after the registry went away, on attempt ${deploy.attempt}: "${deploy.error?.slice(0, 200)}", production unchanged (${during.containers.length} containers, release #${during.live}); away ${Math.round((backAt - shortFaultAt) / 100) / 10} s (first attempt: "${firstFailure.slice(0, 120)}"): the second attempt deployed, the pipeline succeeded ${recoverySeconds} s after the registry went away (release #${after.live}); ${failures(samples).length} of ${samples.length} requests failed; ${count} of ${count} pipelines present`,
      recoverySeconds,
      requests: requests(samples),
    })
  })

  it('gateway-killed-during-rollout: HAProxy SIGKILLed mid-rollout comes back with exactly the live instances', async () => {
    const before = (await expectWhole(stack, demo, 'production')).containers
    const load = keptAlive()
    const id = await redeployProduction()
    await newInstanceStarted(before)
    const killedAt = Date.now()
    const killed = await killGateway(stack.gatewayDir)
    const deadSeconds = secondsSince(killedAt)
    // Slipway does not start HAProxy itself (the fleet runs it as a daemon; in production a
    // service manager restarts it): this test plays that part, 1 s after the master ended.
    await sleep(1000)
    restartedGateway = await HaproxyProcess.start({ dir: stack.gatewayDir, port: await freePort() })
    // What it came back with, from its site files alone (the agent has not spoken to it yet).
    const atRestart = await siteTruth(stack, demo, 'production')
    const servingAgain = await eventually(
      'production served again',
      async () =>
        (await viaGateway(prod()).catch(() => undefined))?.status === 200 ? Date.now() : undefined,
      30_000,
      50,
    )
    const outageSeconds = Math.round((servingAgain - killedAt) / 100) / 10
    const ended = await endOf(id, ['succeeded', 'failed', 'canceled'])
    const rolloutSeconds = secondsSince(killedAt)
    const after = await expectWhole(stack, demo, 'production')
    const recoverySeconds = secondsSince(killedAt)
    const samples = await load.stop()

    expect(ended.status, JSON.stringify(ended.stages)).toBe('succeeded')
    expect(after.containers.filter((c) => before.includes(c))).toEqual([])
    // Requests fail only while HAProxy is away (from the kill to the first answer again).
    const failed = failures(samples)
    const outside = failed.filter((s) => s.end < killedAt - 100 || s.start > servingAgain + 1000)
    expect(outside).toEqual([])
    const count = await allPresent()

    await record({
      id: 'gateway-killed-during-rollout',
      done: `the stack's gateway HAProxy worker killed with SIGKILL once a production redeploy of 3 instances had started its first new container (the master then exits: exit-on-failure), with 4 kept-alive clients; restarted from its folder 1 s later by the test, as a service manager would (Slipway does not restart HAProxy itself)`,
      expected:
        'HAProxy comes back from its site files with the servers last applied and the gateway agent brings it in line (retrying every 2 s); the rollout finishes within 120 s; afterwards the gateway routes exactly to the 3 live instances and no container is left over; requests fail only while HAProxy is away',
      observed: `HAProxy gone ${deadSeconds} s after the kill (master ${killed.master}, worker ${killed.workers.join(',')}); it came back with ${atRestart.gateway.length} servers from its site file, ${atRestart.gateway.filter((server) => atRestart.running.includes(server)).length} of them running instances then (${atRestart.running.length} running); production answered again ${outageSeconds} s after the kill; the redeploy succeeded ${rolloutSeconds} s after the kill and the gateway held exactly the live instances ${recoverySeconds} s after it; ${failed.length} of ${samples.length} requests failed, all inside the outage; ${count} of ${count} pipelines present`,
      recoverySeconds,
      requests: requests(samples),
    })
  })
})
