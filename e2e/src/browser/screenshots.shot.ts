import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { startLoad } from '@slipway/testing/services'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, it } from 'vitest'
import { type Demo, eventually, pipelineIn, setupDemo } from '../client.ts'
import { type Stack, startStack } from '../stack.ts'
import { ensureDashboardBuilt, launchBrowser, releaseThroughApi, signedIn } from './browser.ts'

/**
 * Refreshes docs/screenshots/: the main pages of the dashboard over a real stack with one
 * release in production and a second pipeline waiting for approval.
 * Run: pnpm --filter @slipway/e2e screenshots
 */
const out = path.resolve(import.meta.dirname, '../../../docs/screenshots')
let stack: Stack
let demo: Demo
let browser: Browser
let waitingId: string

beforeAll(async () => {
  process.env.E2E_WEB_DIST = await ensureDashboardBuilt()
  await mkdir(out, { recursive: true })
  stack = await startStack({ workers: 1 })
  demo = await setupDemo(stack)
  browser = await launchBrowser()
  for (const env of ['pre-release', 'production']) {
    await demo.admin.patch(`/api/projects/${demo.project.slug}/environments/${env}/config`, {
      variables: { LOG_LEVEL: 'info', FEATURE_SEARCH: 'on' },
      secrets: { DATABASE_PASSWORD: 'not shown anywhere' },
      note: 'first settings',
    })
  }
  await releaseThroughApi(demo)
  await demo.commit({ version: '2.0.0', message: 'release 2.0.0' })
  const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, { ref: 'main' })
  waitingId = started.body.id
  await pipelineIn(demo.developer, waitingId, ['waiting', 'failed'])
}, 400_000)

afterAll(async () => {
  await browser?.close()
  await stack?.stop()
})

async function shot(page: Page, name: string, route: string, ready: (page: Page) => Promise<unknown>) {
  await page.goto(`${stack.url}${route}`)
  await ready(page)
  await page.waitForTimeout(400)
  await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true })
}

it('takes the screenshots', { timeout: 300_000 }, async () => {
  const slug = demo.project.slug
  const anonymous = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const signIn = await anonymous.newPage()
  await shot(signIn, 'sign-in', '/', (p) => p.getByRole('heading', { name: 'Sign in to Slipway' }).waitFor())
  await anonymous.close()

  const { context, page } = await signedIn(browser, stack.url, 'admin')
  await shot(page, 'projects', '/', (p) => p.getByText('release #1').first().waitFor())
  await shot(page, 'project', `/p/${slug}`, (p) =>
    p.getByRole('heading', { name: 'Recent pipelines' }).waitFor(),
  )
  await shot(page, 'pipelines', `/p/${slug}/pipelines`, (p) =>
    p.locator('tr[data-pipeline]').first().waitFor(),
  )
  const pipeline = await demo.admin.get(`/api/pipelines/${waitingId}`)
  const build = pipeline.body.stages[0].id
  await shot(page, 'pipeline', `/p/${slug}/pipelines/${waitingId}?stage=${build}`, (p) =>
    p.locator('.log[data-state="complete"]').waitFor(),
  )
  await shot(page, 'environment', `/p/${slug}/environments/production`, (p) =>
    p.locator('table[aria-label="Instances"]').waitFor({ timeout: 30_000 }),
  )
  await shot(page, 'settings', `/p/${slug}/settings`, (p) =>
    p.getByRole('button', { name: 'Save project' }).waitFor(),
  )
  await shot(page, 'settings-environments', `/p/${slug}/settings/environments`, (p) =>
    p.getByRole('button', { name: 'Save production' }).waitFor(),
  )
  await shot(page, 'settings-config', `/p/${slug}/settings/config`, (p) =>
    p.getByRole('button', { name: 'Save as new version' }).waitFor(),
  )
  await shot(page, 'audit', `/p/${slug}/audit`, (p) =>
    p.locator('table[aria-label="Audit events"]').waitFor(),
  )
  await context.close()

  const tester = await signedIn(browser, stack.url, 'tester')
  await shot(tester.page, 'approval', `/p/${slug}/pipelines/${waitingId}`, (p) =>
    p.getByTestId('pre-release-health').waitFor({ timeout: 30_000 }),
  )
  await tester.context.close()

  const narrow = await signedIn(browser, stack.url, 'developer', { width: 390, height: 844 })
  await shot(narrow.page, 'pipeline-narrow', `/p/${slug}/pipelines/${waitingId}`, (p) =>
    p.locator('#approval').waitFor(),
  )
  await narrow.context.close()
})

it('takes the canary screenshots', { timeout: 300_000 }, async () => {
  const slug = demo.project.slug
  // Pre-release as a canary environment whose first step waits for a person, under load.
  await demo.admin.patch(`/api/projects/${slug}/environments/pre-release`, {
    replicas: 2,
    strategy: {
      drainSeconds: 0.2,
      healthTimeoutSeconds: 30,
      canary: {
        steps: [
          { weight: 10, holdSeconds: 20, holdRequests: 100, manual: true },
          { weight: 50, holdSeconds: 20, holdRequests: 100 },
        ],
        thresholds: { minRequests: 20, maxErrorRate: 0.02, maxP99Ms: 500 },
      },
    },
  })
  const port = demo.gatewayPorts['pre-release']
  const load = startLoad({ port, concurrency: 8, maxRequests: 1_000_000, maxMs: 240_000 })
  try {
    // Two replicas live first (the scale rolls at once), then the canary of 3.0.0.
    const scaled = await demo.admin.post(`/api/projects/${slug}/environments/pre-release/scale`, {
      replicas: 2,
    })
    await pipelineIn(demo.developer, scaled.body.id, ['succeeded', 'failed'])
    await demo.commit({ version: '3.0.0', message: 'release 3.0.0' })
    const started = await demo.developer.post(`/api/projects/${slug}/pipelines`, { ref: 'main' })
    const id: string = started.body.id
    await eventually(
      'the canary waiting for a person',
      async () => {
        const { body } = await demo.developer.get(`/api/pipelines/${id}`)
        return body.stages.some(
          (stage: { canary: { phase: string } | null }) => stage.canary?.phase === 'waiting',
        )
          ? true
          : undefined
      },
      180_000,
      500,
    )
    const tester = await signedIn(browser, stack.url, 'tester')
    const panel = tester.page.getByRole('region', { name: 'Canary on pre-release' })
    await shot(tester.page, 'canary', `/p/${slug}/pipelines/${id}`, () =>
      panel.getByText('waiting for a person').first().waitFor({ timeout: 30_000 }),
    )
    await panel.screenshot({ path: path.join(out, 'canary-panel.png') })
    await tester.context.close()
    const admin = await signedIn(browser, stack.url, 'admin')
    await admin.page.goto(`${stack.url}/p/${slug}/settings/environments`)
    const canaryFields = admin.page.locator('fieldset', {
      has: admin.page.locator('legend', { hasText: /^Canary$/ }),
    })
    await canaryFields.first().waitFor()
    await canaryFields.first().screenshot({ path: path.join(out, 'settings-canary.png') })
    await admin.context.close()
  } finally {
    await load.stop()
  }
})
