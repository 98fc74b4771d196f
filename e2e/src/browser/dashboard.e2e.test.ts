/// <reference lib="dom" />
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, setupDemo, viaGateway } from '../client.ts'
import { type Stack, startStack } from '../stack.ts'
import {
  ensureDashboardBuilt,
  initialJsGzipBytes,
  launchBrowser,
  type ReleasedPipeline,
  releaseThroughApi,
  report,
  signedIn,
} from './browser.ts'

/**
 * The dashboard in Debian's Chromium against the real API, worker and fleet: a developer
 * starts a pipeline and watches the build log, a viewer cannot approve, a tester approves
 * and production serves the new version, an operator rolls back; the log viewer holds 100k
 * lines. Figures (first contentful paint, initial JS, log viewer) are printed, not asserted.
 */
describe('the dashboard in a real browser', () => {
  let stack: Stack
  let demo: Demo
  let browser: Browser
  let firstPipeline: ReleasedPipeline
  let pipelineId: string
  const pages: Page[] = []

  beforeAll(async () => {
    process.env.E2E_WEB_DIST = await ensureDashboardBuilt()
    stack = await startStack({ workers: 1 })
    demo = await setupDemo(stack)
    browser = await launchBrowser()
    // A first release in production (1.1.0 at the demo's main), so there is one to roll back to.
    firstPipeline = await releaseThroughApi(demo)
    expect(firstPipeline.status).toBe('succeeded')
  }, 300_000)

  afterAll(async () => {
    for (const page of pages) await page.context().close()
    await browser?.close()
    await stack?.stop()
  })

  it('shows the sign-in page first (first contentful paint and initial JS reported)', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    const page = await context.newPage()
    const started = Date.now()
    await page.goto(`${stack.url}/`)
    await page.getByRole('heading', { name: 'Sign in to Slipway' }).waitFor()
    report('sign-in form shown after (ms, from navigation)', Date.now() - started)
    const fcp = await page.evaluate(
      () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
    )
    expect(fcp).not.toBeNull()
    const js = await initialJsGzipBytes()
    report('first contentful paint (ms)', Math.round(fcp!))
    report('initial JS gzip (KB)', (js.bytes / 1024).toFixed(1))
    // A wrong password is said next to the form, in words.
    await page.getByLabel('Email').fill('developer@e2e.test')
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('wrong email or password')
    await context.close()
  })

  it('(1) a developer triggers a pipeline and watches the build log stream in', async () => {
    await demo.commit({ version: '2.0.0', message: 'release 2.0.0' })
    const { page } = await signedIn(browser, stack.url, 'developer')
    pages.push(page)
    await page.getByRole('link', { name: 'Demo' }).click()
    await page.evaluate(() => {
      ;(window as unknown as { marker: number }).marker = 1
    })
    await page.getByRole('button', { name: 'Run pipeline' }).click()
    await page.waitForURL(/\/pipelines\/[0-9a-f-]{36}/)
    pipelineId = page.url().split('/pipelines/')[1]!.split('?')[0]!
    // Keep the build's log on screen while later stages run (the page otherwise follows the
    // running stage, and a build BuildKit has cached ends within a second).
    await page.locator('li[data-stage="build"] button').click()
    const log = page.getByRole('log', { name: 'Log of build' })
    await expect
      .poll(() => log.textContent(), { timeout: 120_000 })
      .toContain('load build definition from Dockerfile')
    // (Drops of the log stream are tested in settings-and-live-log.e2e.test.ts.)
    // The stages move on by themselves: no reload (the marker set before survives).
    const build = page.locator('li[data-stage="build"]')
    await expect.poll(() => build.getAttribute('data-status'), { timeout: 120_000 }).toBe('succeeded')
    // Every stored line arrived exactly once (the viewer drops repeats by sequence number).
    const pipeline = await demo.developer.get(`/api/pipelines/${pipelineId}`)
    const stored = await demo.developer.get(`/api/stages/${pipeline.body.stages[0].id}/logs?limit=10000`)
    const viewer = page.locator('.log')
    await expect
      .poll(() => viewer.getAttribute('data-lines'), { timeout: 30_000 })
      .toBe(String(stored.body.lines.length))
    expect(stored.body.lastSeq).toBe(stored.body.lines.length)
    const approval = page.locator('li[data-stage="approval production"]')
    await expect.poll(() => approval.getAttribute('data-status'), { timeout: 180_000 }).toBe('waiting')
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1)
    // A developer may not approve (segregation of duties), and is told why.
    await expect.poll(() => page.locator('#approval').textContent()).toContain('you are developer')
  })

  it('(4) a viewer cannot approve: the control is disabled with the reason, and the API refuses', async () => {
    const { page } = await signedIn(browser, stack.url, 'viewer')
    pages.push(page)
    await page.goto(`${stack.url}/p/${demo.project.slug}/pipelines/${pipelineId}`)
    const approve = page.getByRole('button', { name: 'Approve' })
    await approve.waitFor()
    expect(await approve.isDisabled()).toBe(true)
    const reason = await page.locator('#approval .reason').textContent()
    expect(reason).toContain('you are viewer')
    // The server refuses the same thing from this very session.
    const pipeline = await demo.viewer.get(`/api/pipelines/${pipelineId}`)
    const stage = pipeline.body.stages.find((s: { kind: string }) => s.kind === 'approval')
    const status = await page.evaluate(
      async ({ id, stageId }) => {
        const me = await (await fetch('/api/auth/me')).json()
        const answer = await fetch(`/api/pipelines/${id}/stages/${stageId}/approve`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
          body: JSON.stringify({ comment: 'trying anyway' }),
        })
        return answer.status
      },
      { id: pipelineId, stageId: stage.id },
    )
    expect(status).toBe(403)
    expect((await demo.viewer.get(`/api/pipelines/${pipelineId}`)).body.status).toBe('waiting')
  })

  it('(2) a tester approves; production then serves the new version on healthy instances', async () => {
    const { page } = await signedIn(browser, stack.url, 'tester')
    pages.push(page)
    await page.goto(`${stack.url}/p/${demo.project.slug}/pipelines/${pipelineId}`)
    const panel = page.locator('#approval')
    const current = await demo.tester.get(`/api/pipelines/${pipelineId}`)
    const digest: string = current.body.imageDigest
    await expect.poll(() => panel.textContent()).toContain(current.body.commitSha.slice(0, 8))
    await expect.poll(() => panel.textContent()).toContain(digest.split('@')[1]!.slice(0, 19))
    await expect.poll(() => page.getByTestId('pre-release-health').textContent()).toContain('healthy')
    await page.getByLabel('Comment').fill('checked 2.0.0 on pre-release')
    await page.getByRole('button', { name: 'Approve' }).click()
    await expect
      .poll(() => page.locator('h1 [data-status]').getAttribute('data-status'), { timeout: 180_000 })
      .toBe('succeeded')

    await page.goto(`${stack.url}/p/${demo.project.slug}/environments/production`)
    const top = page.locator('table[aria-label="Releases"] tbody tr').first()
    await expect.poll(() => top.getAttribute('data-status'), { timeout: 60_000 }).toBe('live')
    expect(await top.textContent()).toContain(digest.split('@')[1]!.slice(0, 19))
    const rows = page.locator('table[aria-label="Instances"] tbody tr')
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).first().click()
          const texts = await rows.allTextContents()
          return texts.filter((t) => t.includes(digest.split('@')[1]!.slice(0, 19)) && t.includes('healthy'))
            .length
        },
        { timeout: 60_000, interval: 1000 },
      )
      .toBe(2)
    // Uptime from the containers' start times, next to the time in the gateway.
    const uptimes = await page.locator('table[aria-label="Instances"] td[data-uptime]').allTextContents()
    expect(uptimes.length).toBeGreaterThanOrEqual(2)
    for (const uptime of uptimes) expect(uptime).toMatch(/^up \d+[smhd]/)
    expect((await viaGateway(demo.gatewayPorts.production)).text).toContain('demo 2.0.0 ENVT=production')
  })

  it('(3) an operator rolls production back to the first release', async () => {
    const { page } = await signedIn(browser, stack.url, 'admin')
    pages.push(page)
    await page.goto(`${stack.url}/p/${demo.project.slug}/environments/production`)
    await page.getByRole('button', { name: 'Roll back to #1' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Roll back' }).click()
    await page.getByText(/Started pipeline #\d+/).waitFor({ timeout: 30_000 })
    const top = page.locator('table[aria-label="Releases"] tbody tr').first()
    await expect
      .poll(
        async () => `${await top.getAttribute('data-release')}:${await top.getAttribute('data-status')}`,
        {
          timeout: 120_000,
        },
      )
      .toBe('3:live')
    expect(await top.textContent()).toContain(firstPipeline.imageDigest.split('@')[1]!.slice(0, 19))
    expect((await viaGateway(demo.gatewayPorts.production)).text).not.toContain('demo 2.0.0')
  })

  it('settings say what is wrong next to the field, from the contract and from the API', async () => {
    const page = pages.at(-1)!
    await page.goto(`${stack.url}/p/${demo.project.slug}/settings`)
    const port = page.getByLabel('Container port')
    await port.fill('70000')
    await page.getByRole('button', { name: 'Save project' }).click()
    await expect.poll(() => port.getAttribute('aria-invalid')).toBe('true')
    const errorId = (await port.getAttribute('aria-describedby'))!
      .split(' ')
      .find((id) => id.endsWith('-error'))!
    expect(await page.locator(`[id="${errorId}"]`).textContent()).toContain('65535')
    const project = await demo.admin.get(`/api/projects/${demo.project.slug}`)
    expect(project.body.appSpec.containerPort).toBe(8080)

    await page.goto(`${stack.url}/p/${demo.project.slug}/settings/environments`)
    const form = page.getByRole('form', { name: 'New environment' })
    await form.getByLabel('Name').fill('production')
    await form.getByRole('button', { name: 'Add environment' }).click()
    await expect.poll(() => form.textContent()).toContain('already taken')
  })

  it('the log viewer loads, searches and scrolls 100k lines', async () => {
    const build = firstPipeline.stages.find((s) => s.kind === 'build')!
    const last = await stack.db.stageLogChunk.aggregate({
      where: { stageId: build.id },
      _max: { lastSeq: true },
    })
    const from = (last._max.lastSeq ?? 0) + 1
    const total = 100_000
    const chunks = []
    const now = Date.now()
    for (let first = 0; first < total; first += 500) {
      const lines = []
      for (let i = first; i < Math.min(total, first + 500); i++) {
        const text =
          i === 77_777
            ? 'needle-77777 found here'
            : `\u001b[3${i % 8}mline ${i}\u001b[0m step ${i % 97} of the synthetic build output`
        lines.push([from + i, now + i, text])
      }
      chunks.push({
        stageId: build.id,
        firstSeq: from + first,
        lastSeq: from + first + lines.length - 1,
        lines,
      })
    }
    for (let i = 0; i < chunks.length; i += 50)
      await stack.db.stageLogChunk.createMany({ data: chunks.slice(i, i + 50) })

    const page = pages.at(-1)!
    const started = Date.now()
    await page.goto(`${stack.url}/p/${demo.project.slug}/pipelines/${firstPipeline.id}?stage=${build.id}`)
    const viewer = page.locator('.log')
    const expected = String(from - 1 + total)
    await expect
      .poll(() => viewer.getAttribute('data-lines'), { timeout: 120_000, interval: 200 })
      .toBe(expected)
    const loadMs = Date.now() - started
    // Where the time went, on the page's clock: before the first page of the log was asked
    // for (app, session, pipeline), the pages themselves, and until all lines were shown.
    const timeline = await page.evaluate(() => {
      const pages = performance
        .getEntriesByType('resource')
        .filter((entry) => /\/api\/stages\/[^/]+\/logs\?/.test(entry.name)) as PerformanceResourceTiming[]
      return {
        firstAskedAt: Math.round(pages[0]?.startTime ?? 0),
        lastReceivedAt: Math.round(pages.at(-1)?.responseEnd ?? 0),
        shownBy: Math.round(performance.now()),
        pages: pages.map((timing) => ({
          ms: Math.round(timing.duration),
          waitMs: Math.round(timing.responseStart - timing.requestStart),
          wireKB: Math.round(timing.encodedBodySize / 1024),
          jsonKB: Math.round(timing.decodedBodySize / 1024),
        })),
      }
    })
    const rendered = await page.locator('.log-row').count()
    expect(rendered).toBeLessThan(200)

    const scroll = await page.evaluate(async () => {
      const element = document.querySelector('.log-viewport') as HTMLElement
      const frames: number[] = []
      let previous = performance.now()
      element.scrollTop = 0
      for (let step = 1; step <= 60; step++) {
        element.scrollTop = (element.scrollHeight * step) / 60
        await new Promise((resolve) => requestAnimationFrame(resolve))
        const at = performance.now()
        frames.push(at - previous)
        previous = at
      }
      frames.sort((a, b) => a - b)
      return { median: frames[30], worst: frames.at(-1), rows: document.querySelectorAll('.log-row').length }
    })
    await expect.poll(() => page.locator('.log-viewport').textContent()).toContain('line 99999')
    await page.getByRole('searchbox', { name: 'Search the log' }).fill('needle-77777')
    await page.getByRole('searchbox', { name: 'Search the log' }).press('Enter')
    await expect
      .poll(() => page.locator('.log-row.current').textContent())
      .toContain('needle-77777 found here')
    expect(await page.locator('.log-row.current mark').textContent()).toBe('needle-77777')
    // Colours came through as colours, not escape codes.
    expect(await page.locator('.log-viewport').textContent()).not.toContain('\u001b[')
    report('log viewer: 100k lines loaded (ms)', loadMs)
    report('log viewer: 100k lines, page clock (ms; shownBy is at most one poll late)', timeline)
    report('log viewer: scroll frames over 60 jumps (ms)', {
      median: Math.round(scroll.median! * 10) / 10,
      worst: Math.round(scroll.worst! * 10) / 10,
      rowsInDom: scroll.rows,
    })
  })

  it('a log line carrying HTML, script or escape sequences is shown as text, never run', async () => {
    const push = firstPipeline.stages.find((s) => s.kind === 'push')!
    const last = await stack.db.stageLogChunk.aggregate({
      where: { stageId: push.id },
      _max: { lastSeq: true },
    })
    const from = (last._max.lastSeq ?? 0) + 1
    const hostile = [
      '<img src=x onerror="window.__xss = 1">',
      '<script>window.__xss = 2</script>',
      '\u001b]8;;javascript:window.__xss=3\u001b\\click me\u001b]8;;\u001b\\',
      '\u001b[31m<b>red words</b>\u001b[0m and <a href="javascript:window.__xss=4">a link</a>',
    ]
    await stack.db.stageLogChunk.create({
      data: {
        stageId: push.id,
        firstSeq: from,
        lastSeq: from + hostile.length - 1,
        lines: hostile.map((text, i) => [from + i, Date.now(), text]),
      },
    })
    const page = pages.at(-1)!
    await page.goto(`${stack.url}/p/${demo.project.slug}/pipelines/${firstPipeline.id}?stage=${push.id}`)
    const viewer = page.getByRole('log', { name: 'Log of push' })
    await expect.poll(() => viewer.textContent(), { timeout: 30_000 }).toContain('</script>')
    const text = (await viewer.textContent()) ?? ''
    expect(text).toContain('<img src=x onerror="window.__xss = 1">')
    expect(text).toContain('<b>red words</b>')
    expect(text).toContain('<a href="javascript:window.__xss=4">a link</a>')
    expect(await viewer.locator('img, script, b, a').count()).toBe(0)
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined()
  })
})
