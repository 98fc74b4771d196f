import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, PrivatePostgres, recordRow, secondsSince } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, pipelineIn, setupDemo, startSlowBuild, storedLog } from './client.ts'
import { type Stack, startStack } from './stack.ts'

describe('PostgreSQL restarts mid-stage', () => {
  let stack: Stack
  let demo: Demo
  let postgres: PrivatePostgres

  beforeAll(async () => {
    postgres = await PrivatePostgres.create(await freePort())
    stack = await startStack({ workers: 1, databaseUrl: postgres.url })
    demo = await setupDemo(stack, { prodReplicas: 1, prodHosts: ['prod-1'] })
  })
  afterAll(async () => {
    await stack?.stop().catch(() => undefined)
    await postgres?.remove()
  })

  it('PostgreSQL crashes during a build: the API says so, and the pipeline carries on once it is back', async () => {
    const pipelineId = await startSlowBuild(demo, {
      version: '8.0.0',
      note: 'waiting for postgres',
      seconds: 5,
    })

    const faultAt = Date.now()
    await postgres.crash()
    const ready = await fetch(`${stack.url}/readyz`)
    expect(ready.status).toBe(503)
    expect((await ready.json()).checks).toContainEqual(
      expect.objectContaining({ name: 'postgres', ok: false }),
    )
    const read = await demo.developer.get(`/api/pipelines/${pipelineId}`)
    expect(read.status).toBe(503)
    expect(read.body.error.code).toBe('DEPENDENCY_UNAVAILABLE')
    await sleep(12_000)
    await postgres.start()

    const ended = await pipelineIn(
      demo.developer,
      pipelineId,
      ['waiting', 'failed', 'succeeded', 'canceled'],
      240_000,
    )
    // The build ran on while the database was away (12 s, less than the 30 s lease); its log
    // and its result were stored once it was back: one attempt, no line lost.
    expect(ended.status).toBe('waiting')
    expect(ended.stages[0].attempt).toBe(1)
    expect(ended.stages.map((s: { status: string }) => s.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'waiting',
      'pending',
    ])
    const { lines, text } = await storedLog(demo.developer, ended.stages[0].id)
    expect(lines.map((line) => line[0])).toEqual(lines.map((_, index) => index + 1))
    expect(text).toContain('waiting for postgres')
    expect(text).toMatch(/✔ build succeeded/)
    const recoverySeconds = secondsSince(faultAt)
    await recordRow({
      section: 'fault',
      id: 'postgres-restarted-during-build',
      done: 'PostgreSQL crashed (pg_ctl -m immediate) during a build and started again 12 s later',
      expected:
        'while it is away the API answers 503 DEPENDENCY_UNAVAILABLE and /readyz names postgres; the build runs on, its log and result are stored once the database is back: one attempt, no log line lost, the pipeline goes on to its production approval',
      observed: `503 DEPENDENCY_UNAVAILABLE during the outage; the pipeline reached "waiting" ${recoverySeconds} s after the crash with the build on attempt 1 and ${lines.length} log lines numbered 1..${lines.length} without a gap`,
      recoverySeconds,
      test: 'e2e/src/postgres-restart.e2e.test.ts',
      ci: true,
    })
  })
})
