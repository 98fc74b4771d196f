import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, eventually, setupDemo } from './client.ts'
import { type Stack, startStack } from './stack.ts'

// Workers started for some build agent groups only (WORKER_BUILD_GROUPS): a project's builds
// and pushes run on a worker serving its group, and follow the project to another group.
describe('build agent groups', () => {
  let stack: Stack
  let demo: Demo

  beforeAll(async () => {
    stack = await startStack({ workers: 0 })
    await stack.startWorker('w-default', { WORKER_BUILD_GROUPS: 'default' })
    await stack.startWorker('w-gpu', { WORKER_BUILD_GROUPS: 'gpu,arm' })
    demo = await setupDemo(stack)
  })
  afterAll(async () => {
    await stack?.stop()
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

  /** The stage jobs a group's queue completed: which stage, and the worker that ran it. */
  async function completedIn(group: string) {
    const queue = `${stack.prefix}:stages.build.${group}`
    const ids = await stack.redis.zrange(`${queue}:completed`, 0, -1)
    return Promise.all(
      ids.map(async (id) => {
        const [data, worker] = await stack.redis.hmget(`${queue}:${id}`, 'data', 'pb')
        return [(JSON.parse(data ?? '{}') as { stageId?: string }).stageId, worker]
      }),
    )
  }

  it("a build runs on a worker serving the project's group, and moves with the project", async () => {
    const first = await buildAndPush('11.0.0')
    expect(await completedIn('default')).toEqual(first.map((stageId) => [stageId, 'w-default']))

    const hosts = (await demo.admin.get('/api/hosts')).body as Array<{ id: string; name: string }>
    const build1 = hosts.find((host) => host.name === 'build-1')!
    expect((await demo.admin.patch(`/api/hosts/${build1.id}`, { agentGroup: 'gpu' })).status).toBe(200)
    const moved = await demo.admin.patch(`/api/projects/${demo.project.slug}`, { buildAgentGroup: 'gpu' })
    expect(moved.status).toBe(200)

    const second = await buildAndPush('11.0.1')
    expect(await completedIn('gpu')).toEqual(second.map((stageId) => [stageId, 'w-gpu']))
    expect(await completedIn('default')).toHaveLength(2)
  })
})
