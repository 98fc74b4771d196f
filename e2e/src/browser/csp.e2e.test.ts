/// <reference lib="dom" />
import type { Browser, BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, setupDemo } from '../client.ts'
import { type Stack, startStack } from '../stack.ts'
import { ensureDashboardBuilt, launchBrowser, report, signedIn } from './browser.ts'

/** What the browser reported against the Content-Security-Policy, from events and the console. */
async function watchCsp(context: BrowserContext): Promise<string[]> {
  const seen: string[] = []
  await context.exposeBinding('reportCspViolation', (_source, text: string) => {
    seen.push(text)
  })
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = (window as unknown as { reportCspViolation(text: string): void }).reportCspViolation
      report(
        `${event.violatedDirective} blocked ${event.blockedURI || 'inline'} at ${event.sourceFile}:${event.lineNumber}`,
      )
    })
  })
  context.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) seen.push(`console: ${message.text()}`)
  })
  return seen
}

/**
 * Every page of the dashboard, served with the API's security headers, in Debian's Chromium:
 * each loads and works with not one Content-Security-Policy violation reported. No worker
 * runs: the pages, the sign-in, the forms and the live project stream are what is checked.
 */
describe('the dashboard under its Content-Security-Policy', () => {
  let stack: Stack
  let demo: Demo
  let browser: Browser

  beforeAll(async () => {
    process.env.E2E_WEB_DIST = await ensureDashboardBuilt()
    stack = await startStack({ workers: 0 })
    demo = await setupDemo(stack)
    browser = await launchBrowser()
  }, 300_000)

  afterAll(async () => {
    await browser?.close()
    await stack?.stop()
  })

  it('sends the headers on the page itself', async () => {
    const response = await fetch(`${stack.url}/`)
    expect(response.headers.get('content-type')).toMatch(/text\/html/)
    const csp = response.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toMatch(/style-src 'self' 'sha256-[A-Za-z0-9+/=]+'/)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('x-frame-options')).toBe('DENY')
  })

  it('every page loads and works with no CSP violation', async () => {
    const started = Date.now()
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    const violations = await watchCsp(context)
    const page = await context.newPage()
    // Sign-in: a wrong password, said in words, then the right one.
    await page.goto(`${stack.url}/`)
    await page.getByRole('heading', { name: 'Sign in to Slipway' }).waitFor()
    await page.getByLabel('Email').fill('admin@e2e.test')
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('wrong email or password')
    await context.close()

    const { context: admin, page: signed } = await signedIn(browser, stack.url, 'admin')
    const adminViolations = await watchCsp(admin)
    const pipeline = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      ref: 'main',
    })
    expect(pipeline.status).toBe(201)
    const slug = demo.project.slug
    const pages: [string, RegExp][] = [
      ['/', /Projects/],
      ['/projects/new', /project/i],
      ['/account', /token/i],
      ['/admin/hosts', /Hosts/],
      ['/admin/registries', /Registr/],
      ['/admin/users', /Users/],
      [`/p/${slug}`, /Demo/],
      [`/p/${slug}/pipelines`, /Pipelines/],
      [`/p/${slug}/pipelines/${pipeline.body.id}`, /main/],
      [`/p/${slug}/environments/production`, /production/],
      [`/p/${slug}/settings`, /Settings|settings/],
      [`/p/${slug}/settings/config`, /Config/],
      [`/p/${slug}/settings/members`, /Members/],
      [`/p/${slug}/audit`, /Audit|audit/],
      ['/api/docs', /Slipway API/],
    ]
    for (const [path, text] of pages) {
      const reply = await signed.goto(`${stack.url}${path}`)
      expect(reply?.status(), path).toBe(200)
      await expect
        .poll(() => signed.locator('body').textContent(), { message: path, timeout: 20_000 })
        .toMatch(text)
    }
    // The project's live stream is allowed by connect-src: the page says it is live.
    await signed.goto(`${stack.url}/p/${slug}/pipelines`)
    await signed.getByText('live', { exact: true }).waitFor({ timeout: 20_000 })
    // A form posts (fetch to the API): a new token is made and shown.
    await signed.goto(`${stack.url}/account`)
    await signed.getByLabel('Name', { exact: true }).fill('csp-check')
    await signed.getByRole('button', { name: 'Create token' }).first().click()
    await expect.poll(() => signed.locator('body').textContent(), { timeout: 20_000 }).toContain('slp_')
    await admin.close()
    expect([...violations, ...adminViolations]).toEqual([])
    report('CSP walk through the dashboard (ms)', Date.now() - started)
  })
})
