import { execFile } from 'node:child_process'
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { type Demo, pipelineIn } from '../client.ts'

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, '../../..')
const webDist = path.join(root, 'apps/web/dist')

/** Debian's Chromium, headless, with nothing that reaches outside the machine. */
export async function launchBrowser(): Promise<Browser> {
  // Playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    timeout: 60_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

async function newest(dir: string): Promise<number> {
  let latest = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const info = await stat(path.join(entry.parentPath, entry.name))
    latest = Math.max(latest, info.mtimeMs)
  }
  return latest
}

/**
 * Builds the dashboard when apps/web/dist is missing or older than its sources (the README
 * test command builds it first, so this is usually a no-op).
 */
export async function ensureDashboardBuilt(): Promise<string> {
  const built = await stat(path.join(webDist, 'index.html')).then(
    (info) => info.mtimeMs,
    () => 0,
  )
  const sources = Math.max(
    await newest(path.join(root, 'apps/web/src')),
    await newest(path.join(root, 'packages/contracts/src')),
    await newest(path.join(root, 'packages/policy/src')),
    (await stat(path.join(root, 'apps/web/index.html'))).mtimeMs,
  )
  if (built < sources) {
    // vitest sets NODE_ENV=test; a build must not inherit it (React would ship its development build).
    await run('pnpm', ['--filter', '@slipway/web', 'build'], {
      cwd: root,
      timeout: 180_000,
      env: { ...process.env, NODE_ENV: 'production' },
    })
  }
  return webDist
}

/** Gzipped size of the JavaScript the first page loads before anything else (entry + preloads). */
export async function initialJsGzipBytes(): Promise<{ files: string[]; bytes: number }> {
  const html = await readFile(path.join(webDist, 'index.html'), 'utf8')
  const files = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!)
  let bytes = 0
  for (const file of files) bytes += gzipSync(await readFile(path.join(webDist, file)), { level: 9 }).length
  return { files, bytes }
}

const password = 'e2e password 1234'

/** A browser context signed in as `<role>@e2e.test` through the sign-in page. */
export async function signedIn(
  browser: Browser,
  url: string,
  role: string,
  viewport = { width: 1280, height: 800 },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, timezoneId: 'Europe/Berlin' })
  const page = await context.newPage()
  await page.goto(`${url}/`)
  await page.getByLabel('Email').fill(`${role}@e2e.test`)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Projects' }).waitFor({ timeout: 30_000 })
  return { context, page }
}

/** Prints a measured figure (reports, never thresholds). */
export function report(name: string, value: unknown): void {
  process.stdout.write(`[dashboard] ${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}\n`)
}

/** Runs a pipeline at `ref` through the API, a tester approves, and waits until it is done. */
export async function releaseThroughApi(demo: Demo, ref = 'main'): Promise<ReleasedPipeline> {
  const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, { ref })
  const waiting = await pipelineIn(demo.developer, started.body.id, ['waiting', 'failed'])
  if (waiting.status !== 'waiting') throw new Error(`pipeline failed: ${JSON.stringify(waiting.stages)}`)
  const approval = waiting.stages.find((s: { kind: string }) => s.kind === 'approval')
  await demo.tester.post(`/api/pipelines/${waiting.id}/stages/${approval.id}/approve`, { comment: 'ok' })
  return pipelineIn(demo.developer, started.body.id, ['succeeded', 'failed'])
}

export interface ReleasedPipeline {
  id: string
  status: string
  imageDigest: string
  commitSha: string
  stages: { id: string; kind: string; status: string }[]
}
