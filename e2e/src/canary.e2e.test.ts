import { failures, type Sample, startLoad } from '@slipway/testing/services'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureDashboardBuilt, launchBrowser, signedIn } from './browser/browser.ts'
import { type Demo, eventually, pipelineIn, setupDemo, storedLog } from './client.ts'
import { type Stack, startStack } from './stack.ts'

type StageView = {
  id: string
  kind: string
  status: string
  error: string | null
  environment: { name: string } | null
  canary: {
    phase: string
    step: number
    weight: number
    steps: { weight: number; verdict: { decision: string; reason: string } }[]
    samples: unknown[]
    command: { action: string; by: string } | null
    reason: string | null
  } | null
}

const versionOf = (body: string) => /^demo (\S+)/.exec(body)?.[1]

/**
 * The canary of pre-release's deploy stage once `ready` holds for it; fails at once, with the
 * stage and its log, when the canary ended otherwise (or after 2 minutes).
 */
async function canaryOf(demo: Demo, pipelineId: string, ready: (stage: StageView) => boolean) {
  let seen: StageView | undefined
  const ended = (stage: StageView) =>
    stage.canary?.phase === 'rolled-back' || stage.canary?.phase === 'promoted'
  const failure = async (why: string) => {
    const log = seen ? (await storedLog(demo.developer, seen.id)).text : 'no deploy stage'
    const stage = seen && {
      ...seen,
      canary: seen.canary && { ...seen.canary, samples: seen.canary.samples.length },
    }
    return new Error(`${why}; the stage: ${JSON.stringify(stage)}; its log:\n${log}`)
  }
  try {
    await eventually(
      'the pre-release canary',
      async () => {
        const { body } = await demo.developer.get(`/api/pipelines/${pipelineId}`)
        seen = (body.stages as StageView[]).find(
          (s) => s.kind === 'deploy' && s.environment?.name === 'pre-release',
        )
        return seen && (ready(seen) || ended(seen)) ? seen : undefined
      },
      120_000,
      250,
    )
  } catch (error) {
    throw await failure(String(error))
  }
  if (!seen || !ready(seen)) throw await failure(`the canary ended ${seen?.canary?.phase}`)
  return seen
}

describe('a canary release through the product: the environment setting, the deploy, a person deciding', () => {
  let stack: Stack
  let demo: Demo
  let browser: Browser
  let port: number
  const strategy = {
    drainSeconds: 0.2,
    healthTimeoutSeconds: 30,
    canary: {
      steps: [
        { weight: 10, holdSeconds: 3, holdRequests: 30, manual: true },
        { weight: 50, holdSeconds: 2, holdRequests: 30 },
      ],
      // p99 over a step's few dozen requests is noisy on a busy 2-core machine: only a p99
      // five times the old one's fails here (the slow-release test is packages/deploy's).
      thresholds: { minRequests: 15, maxErrorRate: 0.05, maxP99Ratio: 5 },
    },
  }
  /** A pipeline of a new commit, started by the developer. */
  const pipelineOf = async (version: string) => {
    const sha = await demo.commit({ version })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    expect(started.status).toBe(201)
    return started.body.id as string
  }
  const load = () => ({
    keptAlive: startLoad({ port, concurrency: 8, maxRequests: 100_000, maxMs: 120_000 }),
    perRequest: startLoad({
      port,
      concurrency: 2,
      connections: 'close',
      maxRequests: 100_000,
      maxMs: 120_000,
    }),
  })
  const stopped = async (runs: ReturnType<typeof load>): Promise<Sample[]> => [
    ...(await runs.keptAlive.stop()),
    ...(await runs.perRequest.stop()),
  ]

  beforeAll(async () => {
    process.env.E2E_WEB_DIST = await ensureDashboardBuilt()
    stack = await startStack({ workers: 1 })
    demo = await setupDemo(stack, { preReplicas: 2 })
    port = demo.gatewayPorts['pre-release']
    browser = await launchBrowser()
  }, 180_000)
  afterAll(async () => {
    await browser?.close()
    await stack?.stop()
  })

  it('refuses steps that do not grow, naming the field, and changes nothing', async () => {
    const refused = await demo.admin.patch(`/api/projects/${demo.project.slug}/environments/pre-release`, {
      strategy: { canary: { steps: [{ weight: 25 }, { weight: 10 }] } },
    })
    expect(refused.status).toBe(400)
    expect(refused.body.error.code).toBe('VALIDATION_FAILED')
    expect(JSON.stringify(refused.body.error.details)).toContain('canary')
    const environment = await demo.admin.get(`/api/projects/${demo.project.slug}/environments/pre-release`)
    expect(environment.body.strategy.canary).toBeNull()
    const set = await demo.admin.patch(`/api/projects/${demo.project.slug}/environments/pre-release`, {
      strategy,
    })
    expect(set.status).toBe(200)
    expect(set.body.strategy.canary.steps.map((step: { weight: number }) => step.weight)).toEqual([10, 50])
    expect(set.body.strategy.canary.thresholds.maxErrorRate).toBe(0.05)
  })

  it('the first release rolls at once (nothing to compare with)', async () => {
    const id = await pipelineOf('7.0.0')
    const waiting = await pipelineIn(demo.developer, id, ['waiting', 'failed'])
    expect(waiting.status).toBe('waiting')
    const deploy = (waiting.stages as StageView[]).find((s) => s.kind === 'deploy') as StageView
    expect(deploy.canary).toBeNull()
    expect((await storedLog(demo.developer, deploy.id)).text).toContain(
      'canary: not run, no release serves yet: rolling at once',
    )
  })

  it('the next waits at its manual step; a tester promotes it; it completes with 0 failed requests', async () => {
    const runs = load()
    const id = await pipelineOf('7.1.0')
    const waitingStep = await canaryOf(demo, id, (stage) => stage.canary?.phase === 'waiting')
    expect(waitingStep.canary).toMatchObject({ step: 0, weight: 10 })
    expect(waitingStep.canary?.steps[0]?.verdict.decision).toBe('pass')
    expect(waitingStep.canary?.samples.length).toBeGreaterThan(0)
    const route = `/api/pipelines/${id}/stages/${waitingStep.id}/canary/promote`
    // A viewer may not; the tester does, from the pipeline page in a browser.
    expect((await demo.viewer.post(route, {})).status).toBe(403)
    const { context, page } = await signedIn(browser, stack.url, 'tester')
    try {
      await page.goto(`${stack.url}/p/${demo.project.slug}/pipelines/${id}`)
      const panel = page.getByRole('region', { name: 'Canary on pre-release' })
      await panel.getByText('waiting for a person').first().waitFor({ timeout: 30_000 })
      // The step's verdict and both versions' figures are on the page.
      await panel.getByText('pass', { exact: false }).first().waitFor()
      await panel.getByLabel('Comment (optional)').fill('checked the new checkout page')
      await panel.getByRole('button', { name: 'Promote' }).click()
      await panel.getByText('promoted: every step passed').waitFor({ timeout: 60_000 })
    } catch (error) {
      // What the page showed and what the API says, to tell the page from the deploy.
      await page.screenshot({ path: '/tmp/canary-e2e-failure.png', fullPage: true })
      const now = await demo.developer.get(`/api/pipelines/${id}`)
      const stage = (now.body.stages as StageView[]).find((s) => s.id === waitingStep.id)
      throw new Error(
        `${String(error)}; the deploy stage now: ${JSON.stringify({ ...stage, canary: { ...stage?.canary, samples: undefined } })}`,
      )
    } finally {
      await context.close()
    }
    const done = await pipelineIn(demo.developer, id, ['waiting', 'failed'])
    expect(done.status).toBe('waiting')
    const samples = await stopped(runs)
    const deploy = (done.stages as StageView[]).find(
      (s) => s.kind === 'deploy' && s.environment?.name === 'pre-release',
    ) as StageView
    expect(deploy.status).toBe('succeeded')
    expect(deploy.canary).toMatchObject({
      phase: 'promoted',
      command: { action: 'promote', by: 'tester@e2e.test' },
    })
    expect(deploy.canary?.steps.map((step) => [step.weight, step.verdict.decision])).toEqual([
      [10, 'pass'],
      [50, 'pass'],
    ])
    expect(failures(samples)).toEqual([])
    expect(samples.some((sample) => versionOf(sample.body) === '7.1.0')).toBe(true)
    const log = (await storedLog(demo.developer, deploy.id)).text
    expect(log).toContain('canary step 1: promoted by tester@e2e.test')
    const audit = await demo.admin.get(`/api/audit?projectId=${demo.project.id}&action=canary.promote`)
    expect(audit.body.items[0]).toMatchObject({
      action: 'canary.promote',
      actor: expect.stringContaining('tester@e2e.test'),
      after: { environment: 'pre-release', step: 1, weight: 10, comment: 'checked the new checkout page' },
    })
    // Once ended, a command is refused with the reason.
    const late = await demo.tester.post(route, {})
    expect(late.status).toBe(409)
    expect(late.body.error).toMatchObject({
      code: 'CONFLICT',
      message: 'the canary has ended: every step passed',
    })
  })

  it('a tester aborting mid-canary restores the old release with 0 failed requests', async () => {
    const runs = load()
    const id = await pipelineOf('7.2.0')
    const judged = await canaryOf(demo, id, (stage) =>
      ['judging', 'waiting'].includes(stage.canary?.phase ?? ''),
    )
    // Promote is refused while a step is being judged; abort is taken at any step.
    if (judged.canary?.phase === 'judging')
      expect(
        (await demo.tester.post(`/api/pipelines/${id}/stages/${judged.id}/canary/promote`, {})).status,
      ).toBe(409)
    const aborted = await demo.tester.post(`/api/pipelines/${id}/stages/${judged.id}/canary/abort`, {
      comment: 'the new search looks wrong',
    })
    expect(aborted.status).toBe(200)
    const failed = await pipelineIn(demo.developer, id, ['failed'])
    const abortedAt = Date.now()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const samples = await stopped(runs)
    const deploy = (failed.stages as StageView[]).find((s) => s.kind === 'deploy') as StageView
    expect(deploy.status).toBe('failed')
    expect(deploy.error).toMatch(/canary: aborted by tester@e2e.test at step 1 \(10%\)/)
    expect(deploy.canary).toMatchObject({ phase: 'rolled-back', weight: 0 })
    expect(failures(samples)).toEqual([])
    // Every request after the rollback was answered by the release that was live before.
    const after = samples.filter((sample) => sample.start > abortedAt)
    expect(after.length).toBeGreaterThan(0)
    expect(new Set(after.map((sample) => versionOf(sample.body)))).toEqual(new Set(['7.1.0']))
    const releases = await demo.developer.get(
      `/api/projects/${demo.project.slug}/environments/pre-release/releases`,
    )
    expect(releases.body[0]).toMatchObject({
      status: 'rolled_back',
      error: expect.stringMatching(/aborted by/),
    })
    const instances = await demo.developer.get(
      `/api/projects/${demo.project.slug}/environments/pre-release/instances`,
    )
    expect(instances.body.instances).toHaveLength(2)
  })
})
