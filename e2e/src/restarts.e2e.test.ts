import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, recordRow, secondsSince } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, pipelineIn, setupDemo, startSlowBuild } from './client.ts'
import { PrivateRedis } from './private-redis.ts'
import { type Stack, startStack } from './stack.ts'

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
    const faultAt = Date.now()
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
    const recoverySeconds = secondsSince(faultAt)
    await recordRow({
      section: 'fault',
      id: 'redis-emptied-during-build',
      done: 'Redis killed (kill -9, no persistence) during a build and started again empty 1.5 s later',
      expected:
        'the pipeline goes on from PostgreSQL (queued work re-sent from the outbox, lost jobs picked up by the reaper) and waits for its production approval, every stage before it succeeded',
      observed: `the pipeline reached "waiting" ${recoverySeconds} s after the kill, build, push and pre-release deploy succeeded (build attempt ${ended.stages[0].attempt})`,
      recoverySeconds,
      test: 'e2e/src/restarts.e2e.test.ts',
      ci: true,
    })
  })

  it('the API restarts: nothing is lost, pipelines carry on', async () => {
    const sha = await demo.commit({ version: '7.1.0' })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    const faultAt = Date.now()
    await stack.restartApi()
    const ended = await pipelineIn(demo.developer, started.body.id, ['waiting', 'failed'], 180_000)
    expect(ended.status).toBe('waiting')
    const recoverySeconds = secondsSince(faultAt)
    await recordRow({
      section: 'fault',
      id: 'api-restarted-during-pipeline',
      done: 'the API process killed (kill -9) and started again right after a pipeline was created',
      expected: 'the pipeline is still there and runs on to its production approval',
      observed: `the pipeline reached "waiting" ${recoverySeconds} s after the kill (the API answered again and the worker never stopped)`,
      recoverySeconds,
      test: 'e2e/src/restarts.e2e.test.ts',
      ci: true,
    })
  })
})
