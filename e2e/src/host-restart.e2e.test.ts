import { setTimeout as sleep } from 'node:timers/promises'
import { type ExtraDaemon, startExtraDaemon } from '@slipway/deploy/testing'
import { recordRow, secondsSince } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, pipelineIn, setupDemo, startSlowBuild, storedLog } from './client.ts'
import { type Stack, startStack } from './stack.ts'

describe('a build host restarts mid-build', () => {
  let stack: Stack
  let demo: Demo
  let daemon: ExtraDaemon

  beforeAll(async () => {
    stack = await startStack({ workers: 1 })
    demo = await setupDemo(stack, { prodReplicas: 1, prodHosts: ['prod-1'] })
    // A build host of this test alone (a dockerd it started), the project's only one.
    daemon = await startExtraDaemon('build-x')
    const host = await demo.admin.post('/api/hosts', {
      name: 'build-x',
      endpoint: daemon.endpoint,
      tls: daemon.tls,
      agentGroup: 'restarting',
    })
    expect(host.status).toBe(201)
    const project = await demo.admin.patch(`/api/projects/${demo.project.slug}`, {
      buildAgentGroup: 'restarting',
    })
    expect(project.status).toBe(200)
  })
  afterAll(async () => {
    await stack?.stop().catch(() => undefined)
    await daemon?.cleanup()
  })

  it('the build is tried again once the host answers, and the pipeline goes on', async () => {
    const pipelineId = await startSlowBuild(demo, {
      version: '9.0.0',
      note: 'building on a host that restarts',
      seconds: 6,
    })
    await sleep(1000)
    const faultAt = Date.now()
    await daemon.stop()
    await sleep(2000)
    await daemon.restart()

    const ended = await pipelineIn(demo.developer, pipelineId, ['waiting', 'failed', 'canceled'], 240_000)
    const build = ended.stages[0]
    expect({ status: ended.status, error: ended.error }).toEqual({ status: 'waiting', error: null })
    expect(build).toMatchObject({ status: 'succeeded' })
    expect(build.attempt).toBeGreaterThan(1)
    const { text } = await storedLog(demo.developer, build.id)
    expect(text).toMatch(/will retry: attempt 2 of 3/)
    expect(text).toMatch(/▶ build · attempt 2/)
    const recoverySeconds = secondsSince(faultAt)
    await recordRow({
      section: 'fault',
      id: 'build-host-restarted-during-build',
      done: "the build host's Docker daemon stopped mid-build and started again 2 s later",
      expected:
        'the build is tried again once the host answers (the log says "will retry: attempt 2 of 3") and the pipeline goes on to its production approval with no error',
      observed: `the pipeline reached "waiting" ${recoverySeconds} s after the stop, the build succeeded on attempt ${build.attempt}`,
      recoverySeconds,
      test: 'e2e/src/host-restart.e2e.test.ts',
      ci: true,
    })
  })
})
