/// <reference lib="dom" />
import { readFile } from 'node:fs/promises'
import { createLogger } from '@slipway/core'
// The worker's own log writer (database + Redis stream), so the lines take the real path.
// e2e has no dependency on @slipway/runs yet, hence the path into the package.
import { StageLog } from '@slipway/runs'
import { fleet, fleetHost, freePort } from '@slipway/testing/services'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, setupDemo } from '../client.ts'
import { type Stack, startStack } from '../stack.ts'
import { ensureDashboardBuilt, launchBrowser, report, signedIn } from './browser.ts'

/** Records every EventSource the page opens, so a test can drop one (test instrumentation only). */
function recordEventSources() {
  const Native = window.EventSource
  const opened: EventSource[] = []
  ;(window as unknown as { eventSources: EventSource[] }).eventSources = opened
  window.EventSource = class extends Native {
    constructor(url: string | URL, init?: EventSourceInit) {
      super(url, init)
      opened.push(this)
    }
  }
}

/** Lines `line <from>` … `line <to>` as one write. */
const lines = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}`).join('\n')

/**
 * The dashboard over a stack without workers (nothing runs by itself):
 * - a maintainer picks an environment's hosts and the project's registry by name, from the
 *   infrastructure choices the API offers maintainers;
 * - an administrator edits a registry's password and a host's labels: only the changed fields
 *   are sent, the password is reported as set and never returned, and a taken host name is
 *   shown by the name field;
 * - a stage prints while the browser's log stream drops, twice: once from the page (the
 *   stream is closed and its next attempt refused, so the viewer opens a fresh one after the
 *   last line it holds) and once from the server (the API is killed; the browser comes back
 *   with Last-Event-ID). The viewer must end with exactly lines 1..N, in order. The stage's
 *   lines are written by the test through the worker's StageLog.
 */
describe('settings and the live log in a real browser', () => {
  let stack: Stack
  let demo: Demo
  let browser: Browser
  let page: Page | undefined

  beforeAll(async () => {
    process.env.E2E_WEB_DIST = await ensureDashboardBuilt()
    stack = await startStack({ workers: 0 })
    demo = await setupDemo(stack)
    browser = await launchBrowser()
  }, 300_000)

  afterAll(async () => {
    await page?.context().close()
    await browser?.close()
    await stack?.stop()
  })

  it('a maintainer picks hosts and the registry by name; a developer sees them read only', async () => {
    const user = await demo.admin.post('/api/users', {
      email: 'maintainer@e2e.test',
      name: 'maintainer',
      password: 'e2e password 1234',
    })
    await demo.admin.put(`/api/projects/${demo.project.slug}/members/${user.body.id}`, { role: 'maintainer' })
    // Project isolation: an administrator grants the project every host and the host network.
    const granted = (await demo.admin.get(`/api/projects/${demo.project.slug}/grants`)).body
    const everyHost = (await demo.admin.get('/api/hosts')).body as Array<{ id: string }>
    const regrant = await demo.admin.put(`/api/projects/${demo.project.slug}/grants`, {
      hostIds: everyHost.map((h) => h.id),
      registries: granted.registries.map((r: { id: string; pathPrefix: string }) => ({
        registryId: r.id,
        pathPrefix: r.pathPrefix,
      })),
      limits: { ...granted.limits, allowHostNetwork: true },
    })
    expect(regrant.status).toBe(200)
    const maintainer = await signedIn(browser, stack.url, 'maintainer')
    const { page: p } = maintainer
    await p.goto(`${stack.url}/p/${demo.project.slug}/settings/environments`)
    const production = p.getByRole('form', { name: 'Environment production' })
    const hosts = production.getByRole('group', { name: 'Hosts' })
    // Every host granted to the project (here: all of them), not only the environment's own.
    await expect
      .poll(() => hosts.getByRole('checkbox').count(), { timeout: 30_000 })
      .toBe(Object.keys(fleet().hosts).length)
    expect(await hosts.getByLabel('prod-1').isChecked()).toBe(true)
    expect(await hosts.getByLabel('prod-3').isChecked()).toBe(false)
    expect(await hosts.textContent()).toContain('builds for default')
    await hosts.getByLabel('prod-3').check()
    await production.getByRole('button', { name: 'Save production' }).click()
    await expect
      .poll(async () => {
        const envs = await demo.admin.get(`/api/projects/${demo.project.slug}/environments`)
        const env = envs.body.find((e: { name: string }) => e.name === 'production')
        return env.hosts.map((h: { name: string }) => h.name).sort()
      })
      .toEqual(['prod-1', 'prod-2', 'prod-3'])

    await p.goto(`${stack.url}/p/${demo.project.slug}/settings`)
    const registry = p.getByLabel('Registry')
    await expect.poll(() => registry.locator('option:checked').textContent()).toMatch(/^local \(/)
    await registry.selectOption({ label: 'none' })
    await p.getByRole('button', { name: 'Save project' }).click()
    await expect
      .poll(async () => (await demo.admin.get(`/api/projects/${demo.project.slug}`)).body.registryId)
      .toBeNull()
    await registry.selectOption({ index: 1 })
    await p.getByRole('button', { name: 'Save project' }).click()
    await expect
      .poll(async () => (await demo.admin.get(`/api/projects/${demo.project.slug}`)).body.registryId)
      .not.toBeNull()

    // The app's network: host shows what the app must do, and is saved; then back to bridge.
    const network = p.getByLabel('Network')
    expect(await network.inputValue()).toBe('bridge')
    await network.selectOption('host')
    await expect.poll(() => p.getByText('the app must listen on the port given in PORT').count()).toBe(1)
    await p.getByRole('button', { name: 'Save project' }).click()
    const networkSaved = async () =>
      (await demo.admin.get(`/api/projects/${demo.project.slug}`)).body.appSpec.network
    await expect.poll(networkSaved).toBe('host')
    await network.selectOption('bridge')
    await p.getByRole('button', { name: 'Save project' }).click()
    await expect.poll(networkSaved).toBe('bridge')
    await maintainer.context.close()

    // A developer may not manage environments: the current hosts, read only, and no error.
    const developer = await signedIn(browser, stack.url, 'developer')
    await developer.page.goto(`${stack.url}/p/${demo.project.slug}/settings/environments`)
    const readOnly = developer.page
      .getByRole('form', { name: 'Environment production' })
      .getByRole('group', { name: 'Hosts' })
    await expect.poll(() => readOnly.getByRole('checkbox').count(), { timeout: 30_000 }).toBe(3)
    expect(await readOnly.getByLabel('prod-3').isDisabled()).toBe(true)
    expect(await developer.page.getByRole('alert').count()).toBe(0)
    await developer.context.close()
  })

  it('an administrator edits a registry and a host; write-only values stay hidden', async () => {
    const added = await demo.admin.post('/api/registries', { name: 'mirror', url: '127.0.0.1:5999' })
    expect(added.body.passwordSet).toBe(false)
    const { context, page: p } = await signedIn(browser, stack.url, 'admin')
    /** The body of the next PATCH the page sends to `path`. */
    const nextPatch = (path: string) =>
      p
        .waitForRequest((request) => request.method() === 'PATCH' && request.url().includes(path))
        .then((request) => request.postDataJSON())
    /** The texts a control's aria-describedby points at (its hint and its error). */
    const description = (control: ReturnType<Page['getByLabel']>) =>
      control.evaluate((element) =>
        (element.getAttribute('aria-describedby') ?? '')
          .split(' ')
          .map((id) => document.getElementById(id)?.textContent ?? '')
          .join(' | '),
      )

    await p.goto(`${stack.url}/admin/registries`)
    await p.getByRole('button', { name: 'Edit mirror', exact: true }).click()
    const registryForm = p.getByRole('form', { name: 'Edit registry mirror' })
    const password = registryForm.getByLabel('Password', { exact: true })
    expect(await password.inputValue()).toBe('')
    expect(await description(password)).toBe('Not set.')
    await registryForm.getByLabel('User', { exact: true }).fill('pusher')
    await password.fill('mirror s3cret')
    const registryPatch = nextPatch(`/api/registries/${added.body.id}`)
    await registryForm.getByRole('button', { name: 'Save registry' }).click()
    expect(await registryPatch).toEqual({ username: 'pusher', password: 'mirror s3cret' })
    await registryForm.getByText('Registry saved.').waitFor()
    const registries = await demo.admin.get('/api/registries')
    const mirror = registries.body.find((r: { name: string }) => r.name === 'mirror')
    expect(mirror).toEqual({ ...added.body, username: 'pusher', passwordSet: true })
    expect(JSON.stringify(registries.body)).not.toContain('mirror s3cret')
    // The form says a password is set and shows none.
    expect(await password.inputValue()).toBe('')
    expect(await description(password)).toBe('Set — leave empty to keep.')

    await p.goto(`${stack.url}/admin/hosts`)
    const hostsBefore = (await demo.admin.get('/api/hosts')).body
    const prod3 = hostsBefore.find((h: { name: string }) => h.name === 'prod-3')
    await p.getByRole('button', { name: 'Edit prod-3', exact: true }).click()
    const hostForm = p.getByRole('form', { name: 'Edit host prod-3' })
    const name = hostForm.getByLabel('Name', { exact: true })
    const labels = hostForm.getByLabel('Labels', { exact: true })
    expect(await name.inputValue()).toBe('prod-3')
    expect(await labels.inputValue()).toBe('')
    // A line that is no label is named under the field, and nothing is sent.
    await labels.fill('zone=eu-1\nrack')
    await hostForm.getByRole('button', { name: 'Save host' }).click()
    await expect.poll(() => description(labels)).toContain('line 2: "rack" has no "="')
    await labels.fill('zone=eu-1\nrack=r7')
    const hostPatch = nextPatch(`/api/hosts/${prod3.id}`)
    await hostForm.getByRole('button', { name: 'Save host' }).click()
    expect(await hostPatch).toEqual({ labels: { zone: 'eu-1', rack: 'r7' } })
    await hostForm.getByText('Host saved.').waitFor()
    const saved = (await demo.admin.get('/api/hosts')).body.find((h: { id: string }) => h.id === prod3.id)
    expect(saved).toMatchObject({
      name: 'prod-3',
      endpoint: prod3.endpoint,
      labels: { zone: 'eu-1', rack: 'r7' },
    })

    // A name another host has: the API's 409 is shown by the name field; nothing changes.
    await name.fill('prod-2')
    await hostForm.getByRole('button', { name: 'Save host' }).click()
    await expect.poll(() => description(name)).toBe('already taken')
    expect(await name.getAttribute('aria-invalid')).toBe('true')
    const names = (await demo.admin.get('/api/hosts')).body.map((h: { name: string }) => h.name)
    expect(names.filter((n: string) => n === 'prod-2')).toHaveLength(1)
    expect(names).toContain('prod-3')
    await hostForm.getByRole('button', { name: 'Cancel' }).click()
    await p.getByRole('form', { name: 'Add a host' }).waitFor()
    await context.close()
  })

  it('adding a host checks its connection first and shows each step; it is added once all pass, or anyway', async () => {
    // A registry nothing answers for: the daemon itself is asked to reach it.
    const nowhere = `${fleet().registry.url.split(':')[0]}:${await freePort()}`
    await demo.admin.post('/api/registries', { name: 'nowhere', url: nowhere })
    const { context, page: p } = await signedIn(browser, stack.url, 'admin')
    await p.goto(`${stack.url}/admin/hosts`)
    const form = p.getByRole('form', { name: 'Add a host' })
    const results = form.getByRole('region', { name: 'Connection check' })
    const hostNames = async () =>
      (await demo.admin.get('/api/hosts')).body.map((h: { name: string }) => h.name) as string[]

    // No daemon behind the endpoint: the check says so, and nothing is added.
    await form.getByLabel('Name', { exact: true }).fill('nobody-1')
    await form.getByLabel('Docker endpoint', { exact: true }).fill(`tcp://127.0.0.1:${await freePort()}`)
    await form.getByRole('button', { name: 'Check and add host' }).click()
    await results.getByText('daemon unreachable').waitFor()
    await results.getByText('HOST_UNREACHABLE').waitFor()
    await form.getByText(/nothing was added/).waitFor()
    expect(await hostNames()).not.toContain('nobody-1')

    // pre-1 again, over TLS: the daemon answers and reaches the fleet's registry, not the dead one.
    const pre = fleetHost('pre-1')
    await form.getByLabel('Name', { exact: true }).fill('pre-1-again')
    await form.getByLabel('Docker endpoint', { exact: true }).fill(pre.endpoint)
    await form.getByLabel('CA certificate', { exact: true }).fill(pre.tls.ca)
    await form.getByLabel('Client certificate', { exact: true }).fill(pre.tls.cert)
    await form.getByLabel('Client key', { exact: true }).fill(pre.tls.key)
    await form.getByRole('button', { name: 'Check and add host' }).click()
    await results.getByText('daemon answers').waitFor()
    await results.getByText(`Connection check (address ${pre.address})`).waitFor()
    await results.getByText('registry local: ok').waitFor()
    await results.getByText('registry nowhere: unreachable').waitFor()
    expect(await hostNames()).not.toContain('pre-1-again')
    await form.getByRole('button', { name: 'Add anyway' }).click()
    await form.getByText('Host added; the worker probes it within seconds.').waitFor()
    const added = (await demo.admin.get('/api/hosts')).body.find(
      (h: { name: string }) => h.name === 'pre-1-again',
    )
    expect(added).toMatchObject({ endpoint: pre.endpoint, address: pre.address, tls: { keySet: true } })
    await context.close()
  })

  it('resumes after dropped connections without losing or repeating a line', async () => {
    const now = new Date()
    const pipeline = await stack.db.pipeline.create({
      data: {
        projectId: demo.project.id,
        number: 1,
        ref: 'main',
        commitSha: 'e2e0'.repeat(10),
        commitTitle: 'a build that prints',
        trigger: 'api',
        status: 'running',
        startedAt: now,
        stages: {
          create: {
            position: 0,
            kind: 'build',
            status: 'running',
            attempt: 1,
            // A lease held by no worker, long enough for the test (no reaper runs anyway).
            leaseOwner: 'e2e-test',
            leaseExpiresAt: new Date(now.getTime() + 30 * 60_000),
            queuedAt: now,
            startedAt: now,
          },
        },
      },
      include: { stages: true },
    })
    const stageId = pipeline.stages[0]!.id
    const log = await StageLog.open({
      db: stack.db,
      redis: stack.redis,
      prefix: stack.prefix,
      stageId,
      logger: createLogger({ name: 'e2e-log', level: 'warn' }),
      secrets: [],
    })
    const write = async (to: number) => {
      log.write(lines(log.lastSeq + 1, to))
      await log.flush()
    }
    await write(200)

    const signed = await signedIn(browser, stack.url, 'developer')
    page = signed.page
    await page.addInitScript(recordEventSources)
    await page.goto(`${stack.url}/p/${demo.project.slug}/pipelines/${pipeline.id}?stage=${stageId}`)
    const viewer = page.locator('.log')
    const linesShown = () => viewer.getAttribute('data-lines')
    await expect.poll(linesShown, { timeout: 30_000 }).toBe('200')
    await expect.poll(() => viewer.getAttribute('data-state')).toBe('live')
    await write(300)
    await expect.poll(linesShown, { timeout: 30_000 }).toBe('300')

    // Drop 1, from the page: the stream is closed as if the browser gave up on it, and the
    // viewer's next attempt is refused once. Lines keep coming meanwhile.
    let refused = 0
    await page.route('**/logs/live**', async (route) => {
      if (refused++ === 0) await route.abort('connectionreset')
      else await route.continue()
    })
    // The project's event stream (the header's live dot) is dropped the same way.
    const streams = await page.evaluate(() => {
      const sources = (window as unknown as { eventSources: EventSource[] }).eventSources
      const open = sources.filter(
        (s) => /\/logs\/live|\/events$/.test(s.url) && s.readyState !== EventSource.CLOSED,
      )
      for (const source of open) {
        source.close()
        source.dispatchEvent(new Event('error'))
      }
      return open.map((s) => new URL(s.url).pathname.split('/').at(-1)).sort()
    })
    const dropped = Date.now()
    expect(streams).toEqual(['events', 'live'])
    await expect.poll(() => viewer.getAttribute('data-state')).toBe('reconnecting')
    const liveDot = page.locator('.live-dot')
    await expect.poll(() => liveDot.getAttribute('data-state')).toBe('reconnecting')
    await write(500)
    await expect.poll(linesShown, { timeout: 60_000, interval: 100 }).toBe('500')
    report('live log: lines again after a drop from the page (ms, one attempt refused)', Date.now() - dropped)
    expect(refused).toBeGreaterThanOrEqual(2)
    await expect.poll(() => liveDot.getAttribute('data-state'), { timeout: 30_000 }).toBe('live')
    await page.unroute('**/logs/live**')

    // Drop 2, from the server: the API dies mid-stream and comes back; the browser resumes
    // with Last-Event-ID.
    const sawDrop = page.locator('.log[data-state="reconnecting"]').waitFor({ timeout: 60_000 })
    const killed = Date.now()
    const restarted = stack.restartApi()
    await write(700)
    await Promise.all([sawDrop, restarted])
    const up = Date.now()
    await write(800)
    await expect.poll(linesShown, { timeout: 60_000, interval: 100 }).toBe('800')
    report('live log: API down (ms), then lines again after (ms)', {
      down: up - killed,
      resumed: Date.now() - up,
    })

    // The stage ends: the stream says so and the viewer is complete.
    await log.close()
    await stack.db.stage.update({
      where: { id: stageId },
      data: { status: 'succeeded', finishedAt: new Date(), leaseOwner: null, leaseExpiresAt: null },
    })
    await expect.poll(() => viewer.getAttribute('data-state'), { timeout: 30_000 }).toBe('complete')
    expect(await linesShown()).toBe('800')

    // Every line exactly once, in order: the viewer's own download of what it holds.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download' }).click(),
    ])
    const text = await readFile((await download.path())!, 'utf8')
    const seen = text
      .trimEnd()
      .split('\n')
      .map((line) => Number(/ line (\d+)$/.exec(line)?.[1]))
    expect(seen).toEqual(Array.from({ length: 800 }, (_, i) => i + 1))
    const rendered = await page
      .locator('.log-row')
      .evaluateAll((rows) => rows.map((row) => Number(row.getAttribute('data-seq'))))
    expect(new Set(rendered).size).toBe(rendered.length)
    report('live log: lines seen after two drops (page side, API killed)', seen.length)
  })
})
