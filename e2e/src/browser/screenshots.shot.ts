import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, it } from 'vitest'
import { type Demo, pipelineIn, setupDemo } from '../client.ts'
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
