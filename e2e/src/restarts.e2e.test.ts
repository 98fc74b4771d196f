import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, eventually, pipelineIn, setupDemo, startSlowBuild } from './client.ts'
import { type Stack, startStack } from './stack.ts'

/** A Redis of this test alone, so it can be killed and restarted empty without touching others. */
class PrivateRedis {
  private child: ChildProcess | undefined
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url() {
    return `redis://127.0.0.1:${this.port}`
  }

  async start() {
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
      ],
      { stdio: 'ignore' },
    )
    await eventually('redis', async () => {
      const socket = await import('node:net').then((net) => net.connect(this.port, '127.0.0.1'))
      return new Promise<true | undefined>((resolve) => {
        socket.once('connect', () => {
          socket.destroy()
          resolve(true)
        })
        socket.once('error', () => resolve(undefined))
      })
    })
  }

  /** kill -9: everything in it is gone. */
  async crash() {
    if (!this.child) return
    const exited = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await exited
  }
}

describe('restarts mid-stage', () => {
  let stack: Stack
  let demo: Demo
  let redis: PrivateRedis
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-redis-'))
    redis = new PrivateRedis(await freePort(), dir)
    await redis.start()
    stack = await startStack({ workers: 1, redisUrl: redis.url })
    demo = await setupDemo(stack, { prodReplicas: 1, prodHosts: ['prod-1'] })
  })
  afterAll(async () => {
    await stack?.stop().catch(() => undefined)
    await redis?.crash()
    await rm(dir, { recursive: true, force: true })
  })

  it('Redis crashes and comes back empty during a build: the pipeline still ends, truthfully', async () => {
    const pipelineId = await startSlowBuild(demo, { version: '7.0.0', note: 'waiting for redis', seconds: 4 })
    await redis.crash()
    await sleep(1500)
    await redis.start()

    const ended = await pipelineIn(
      demo.developer,
      pipelineId,
      ['waiting', 'failed', 'succeeded', 'canceled'],
      240_000,
    )
    // The build finished while Redis was away; its job queue was lost, the database was not.
    expect(ended.status).toBe('waiting')
    expect(ended.stages.map((s: { status: string }) => s.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'waiting',
      'pending',
    ])
  })

  it('the API restarts: nothing is lost, pipelines carry on', async () => {
    const sha = await demo.commit({ version: '7.1.0' })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    await stack.restartApi()
    const ended = await pipelineIn(demo.developer, started.body.id, ['waiting', 'failed'], 180_000)
    expect(ended.status).toBe('waiting')
  })
})
