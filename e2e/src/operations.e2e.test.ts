import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { DockerodeHost, DockerodeSwarm } from '@slipway/docker'
import { fleet, fleetHost } from '@slipway/testing'
import { failures, freePort, startLoad } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, eventually, pipelineIn, setupDemo, viaGateway } from './client.ts'
import { type Stack, startStack } from './stack.ts'

const run = promisify(execFile)

type InstanceRow = {
  id: string
  host: string
  address: string
  port: number | null
  state: string
  inGateway: boolean
  release: { number: number | null }
}

describe('operating an environment', () => {
  let stack: Stack
  let demo: Demo
  let waitingPipeline: { id: string; stages: { id: string; kind: string }[] }
  const pre = new DockerodeHost('pre-1', fleetHost('pre-1'))

  beforeAll(async () => {
    stack = await startStack({
      workers: 1,
      workerEnv: { RECONCILE_INTERVAL_SECONDS: '5' },
    })
    demo = await setupDemo(stack, { preReplicas: 2, prodReplicas: 1, prodHosts: ['prod-1'] })
    const sha = await demo.commit({ version: '6.0.0' })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    const waiting = await pipelineIn(demo.developer, started.body.id, ['waiting', 'failed'])
    expect(waiting.status).toBe('waiting')
    waitingPipeline = waiting
  })
  afterAll(async () => {
    await stack?.stop()
    await swarmCleanup?.()
  })
  let swarmCleanup: (() => Promise<void>) | undefined

  const instances = async () =>
    (await demo.developer.get(`/api/projects/${demo.project.slug}/environments/pre-release/instances`)).body
      .instances as InstanceRow[]

  it('runs on the production build: plain node, no TypeScript loader', () => {
    const args = [...stack.workers.values()].flatMap((child) => child.spawnargs)
    expect(args.some((arg) => arg.endsWith('/worker/main.mjs'))).toBe(true)
    expect(args).not.toContain('tsx')
  })

  it('lists the live instances with their host, release and gateway state', async () => {
    const rows = await instances()
    expect(rows).toHaveLength(2)
    expect(rows.every((row) => row.host === 'pre-1' && row.state === 'running' && row.inGateway)).toBe(true)
    // Reached at pre-1's own address on the fleet LAN, each on its own published port.
    expect(rows.map((row) => row.address)).toEqual([fleetHost('pre-1').address, fleetHost('pre-1').address])
    expect(new Set(rows.map((row) => row.port)).size).toBe(2)
    const discovery = await demo.developer.get(`/api/discovery/${demo.project.slug}/pre-release`)
    expect(discovery.body.map((entry: { id: string }) => entry.id).sort()).toEqual(
      rows.map((row) => row.id).sort(),
    )
  })

  it('a new environment gets its gateway while another serves: 0 failed kept-alive requests', async () => {
    const port = demo.gatewayPorts['pre-release']
    const load = startLoad({ port, maxRequests: 4000, maxMs: 60_000 })
    const hosts = (await demo.admin.get('/api/hosts')).body as { id: string; name: string }[]
    const stagingPort = await freePort()
    const created = await demo.admin.post(`/api/projects/${demo.project.slug}/environments`, {
      name: 'staging',
      position: 2,
      hostIds: hosts.filter((h) => h.name === 'prod-2').map((h) => h.id),
      gatewayPort: stagingPort,
      replicas: 1,
    })
    expect(created.status).toBe(201)
    // The gateway adds the new site (a configuration change, reloaded with the listeners
    // handed over): it answers 503 until something is deployed there.
    const staging = await eventually('the staging gateway answers', async () => {
      const answer = await viaGateway(stagingPort).catch(() => undefined)
      return answer?.status === 503 ? answer : undefined
    })
    expect(JSON.parse(staging.text).error.code).toBe('DEPENDENCY_UNAVAILABLE')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const samples = await load.stop()
    expect(samples.length).toBeGreaterThan(20)
    expect(failures(samples)).toEqual([])
    const removed = await demo.admin.request(
      'DELETE',
      `/api/projects/${demo.project.slug}/environments/staging`,
    )
    expect(removed.status).toBe(204)
  })

  it('heals: a container that disappears is replaced and the gateway keeps serving', async () => {
    const [victim] = await pre.list({
      'slipway.project': demo.project.slug,
      'slipway.environment': 'pre-release',
    })
    await pre.remove(victim!.id)
    expect((await viaGateway(demo.gatewayPorts['pre-release'])).status).toBe(200)
    const healed = await eventually(
      'two healthy instances again',
      async () => {
        const rows = await instances()
        const running = rows.filter((row) => row.state === 'running' && row.inGateway)
        return running.length === 2 && !running.some((row) => row.id === victim!.labels['slipway.instance'])
          ? running
          : undefined
      },
      90_000,
      1000,
    )
    expect(healed).toHaveLength(2)
    // The audit row is written once the reconcile has finished, just after the instances show.
    const reconciled = await eventually(
      'the reconcile in the audit log',
      async () =>
        (await demo.admin.get(`/api/audit?projectId=${demo.project.id}&action=environment.reconcile`)).body
          .items[0],
      15_000,
      250,
    )
    expect(reconciled).toMatchObject({
      action: 'environment.reconcile',
      actor: expect.stringMatching(/^system/),
    })
    expect((await viaGateway(demo.gatewayPorts['pre-release'])).text).toContain('demo 6.0.0')
  })

  it('scales up and down through the rolling path', async () => {
    const up = await demo.developer.post(
      `/api/projects/${demo.project.slug}/environments/pre-release/scale`,
      { replicas: 3 },
    )
    expect(up.status).toBe(201)
    expect((await pipelineIn(demo.developer, up.body.id, ['succeeded', 'failed'])).status).toBe('succeeded')
    expect((await instances()).filter((row) => row.state === 'running')).toHaveLength(3)

    const down = await demo.developer.post(
      `/api/projects/${demo.project.slug}/environments/pre-release/scale`,
      { replicas: 1 },
    )
    expect((await pipelineIn(demo.developer, down.body.id, ['succeeded', 'failed'])).status).toBe('succeeded')
    expect((await instances()).filter((row) => row.state === 'running')).toHaveLength(1)
    const env = await demo.developer.get(`/api/projects/${demo.project.slug}/environments/pre-release`)
    expect(env.body).toMatchObject({ replicas: 1, live: { replicas: 1 } })
  })

  it('shows a container’s own log', async () => {
    const [row] = (await instances()).filter((r) => r.state === 'running')
    const all = await demo.developer.get(
      `/api/projects/${demo.project.slug}/environments/pre-release/instances`,
    )
    const containerId = all.body.instances.find((i: { id: string }) => i.id === row!.id).containerId
    const logs = await demo.developer.get(
      `/api/projects/${demo.project.slug}/environments/pre-release/instances/pre-1/${containerId}/logs?tail=20`,
    )
    expect(logs.status).toBe(200)
    expect(logs.body.lines.join('\n')).toContain('demo 6.0.0 listening on 8080')
  })

  // Production moves to a Swarm before its first release: the approved release runs as one
  // service on the 3-node swarm, the gateway routes to the tasks on their nodes' addresses.
  it('a Swarm environment: the approved release runs as a Swarm service behind the gateway', async () => {
    const { stdout } = await run('bash', [path.join(fleet().root, 'docker', 'fleet.sh'), 'swarm', 'up'], {
      timeout: 180_000,
    })
    const endpoint = stdout.trim().split('\n').at(-1) ?? ''
    const manager = await demo.admin.post('/api/hosts', { name: 'swarm-1', endpoint, tls: fleet().tls })
    expect(manager.status).toBe(201)
    const swarm = new DockerodeSwarm('swarm-1', { endpoint, tls: fleet().tls })
    const service = `slipway-${demo.project.slug}-production`
    swarmCleanup = async () => {
      await swarm.removeService(service)
      await eventually('the secrets are free', async () => {
        const left = await swarm.secrets({ label: [`slipway.project=${demo.project.slug}`] })
        for (const secret of left) await swarm.removeSecret(secret.id)
        return left.length === 0 ? true : undefined
      })
    }
    const hosts = (await demo.admin.get('/api/hosts')).body as { id: string; name: string }[]
    const prod2 = hosts.find((h) => h.name === 'prod-2')!.id
    const url = `/api/projects/${demo.project.slug}/environments/production`
    // One host, the manager: two are refused and nothing changes.
    const two = await demo.admin.patch(url, { target: 'swarm', hostIds: [manager.body.id, prod2] })
    expect(two.status).toBe(400)
    expect(two.body.error).toMatchObject({ code: 'VALIDATION_FAILED' })
    expect(JSON.stringify(two.body.error.details)).toContain('body.hostIds')
    expect((await demo.admin.get(url)).body.target).toBe('docker-hosts')
    const moved = await demo.admin.patch(url, {
      target: 'swarm',
      hostIds: [manager.body.id],
      replicas: 3,
      strategy: { drainSeconds: 0.2, healthTimeoutSeconds: 30, monitorSeconds: 1 },
    })
    expect(moved.status).toBe(200)
    expect(moved.body).toMatchObject({ target: 'swarm', replicas: 3 })
    const secret = await demo.admin.patch(
      `/api/projects/${demo.project.slug}/environments/production/config`,
      {
        secrets: { API_TOKEN: 'swarm-secret-value' },
      },
    )
    expect(secret.status).toBe(200)

    const approval = waitingPipeline.stages.find((stage) => stage.kind === 'approval')!
    const approved = await demo.tester.post(
      `/api/pipelines/${waitingPipeline.id}/stages/${approval.id}/approve`,
      {
        comment: 'to the swarm',
      },
    )
    expect(approved.status).toBe(200)
    const done = await pipelineIn(demo.developer, waitingPipeline.id, ['succeeded', 'failed'], 180_000)
    expect(done.status).toBe('succeeded')
    expect((await viaGateway(demo.gatewayPorts.production)).text).toContain('demo 6.0.0')

    const listed = await demo.developer.get(`${url}/instances`)
    const rows = listed.body.instances as (InstanceRow & { containerId: string })[]
    expect(rows).toHaveLength(3)
    expect(new Set(rows.map((row) => row.host))).toEqual(new Set(['swarm-1', 'swarm-2', 'swarm-3']))
    expect(rows.every((row) => row.state === 'running' && row.inGateway && row.release.number === 1)).toBe(
      true,
    )
    const logs = await demo.developer.get(
      `${url}/instances/${rows[0]!.host}/${rows[0]!.containerId}/logs?tail=20`,
    )
    expect(logs.status).toBe(200)
    expect(logs.body.lines.join('\n')).toContain('demo 6.0.0 listening on 8080')
    // The secret is a Swarm secret: in no service env, not in the stage log.
    const stages = await stack.db.stage.findMany({
      where: { pipelineId: waitingPipeline.id, kind: 'deploy' },
      orderBy: { position: 'asc' },
    })
    const deployLog = await demo.developer.get(`/api/stages/${stages.at(-1)!.id}/logs`)
    expect(JSON.stringify(deployLog.body)).toContain('swarm: service')
    expect(JSON.stringify(deployLog.body)).not.toContain('swarm-secret-value')
    const inSwarm = await swarm.secrets({ label: [`slipway.project=${demo.project.slug}`] })
    expect(inSwarm.map((s) => s.name)).toEqual([expect.stringContaining('API_TOKEN')])
  })

  /** Starts a pipeline, waits for its push, cancels the rest; who ran the build and the push. */
  async function buildAndPush(version: string) {
    const sha = await demo.commit({ version })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    expect(started.status).toBe(201)
    const pipelineId: string = started.body.id
    const stages = await eventually(
      `the push of ${version}`,
      async () => {
        const rows = await stack.db.stage.findMany({
          where: { pipelineId, kind: { in: ['build', 'push'] } },
          orderBy: { position: 'asc' },
        })
        if (rows.some((row) => row.status === 'failed')) throw new Error(JSON.stringify(rows))
        return rows.every((row) => row.status === 'succeeded') ? rows : undefined
      },
      180_000,
    )
    expect((await demo.developer.post(`/api/pipelines/${pipelineId}/cancel`, {})).status).toBe(200)
    return stages.map((stage) => stage.id)
  }

  /** The worker that ran each stage's job, as the group's queue recorded it (BullMQ `pb`). */
  async function ranBy(group: string, stageIds: string[]) {
    const queue = `${stack.prefix}:stages.build.${group}`
    const ids = await stack.redis.zrange(`${queue}:completed`, 0, -1)
    const done = await Promise.all(
      ids.map(async (id) => {
        const [data, worker] = await stack.redis.hmget(`${queue}:${id}`, 'data', 'pb')
        return [(JSON.parse(data ?? '{}') as { stageId?: string }).stageId, worker] as const
      }),
    )
    return stageIds.map((stageId) => done.find(([id]) => id === stageId)?.[1])
  }

  // Workers started for some build agent groups only (WORKER_BUILD_GROUPS): a project's
  // builds and pushes run on a worker serving its group, and follow the project to another.
  it("a build runs on a worker serving the project's group, and moves with the project", async () => {
    await stack.stopWorker('w1')
    await stack.startWorker('w-default', { WORKER_BUILD_GROUPS: 'default' })
    await stack.startWorker('w-gpu', { WORKER_BUILD_GROUPS: 'gpu,arm' })
    const first = await buildAndPush('11.0.0')
    expect(await ranBy('default', first)).toEqual(['w-default', 'w-default'])

    const hosts = (await demo.admin.get('/api/hosts')).body as Array<{ id: string; name: string }>
    const build1 = hosts.find((host) => host.name === 'build-1')!
    expect((await demo.admin.patch(`/api/hosts/${build1.id}`, { agentGroup: 'gpu' })).status).toBe(200)
    const moved = await demo.admin.patch(`/api/projects/${demo.project.slug}`, { buildAgentGroup: 'gpu' })
    expect(moved.status).toBe(200)

    const second = await buildAndPush('11.0.1')
    expect(await ranBy('gpu', second)).toEqual(['w-gpu', 'w-gpu'])
  })
})
