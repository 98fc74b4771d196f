import { readFile } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { freePort } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { gatewayTest as test, until } from '../test-support/fixtures.ts'
import { harness, instance } from '../test-support/harness.ts'
import { createTrafficSwitch } from '../traffic/switch.ts'
import { HaproxyApplier } from './applier.ts'
import { renderSite, type SiteServer } from './render.ts'
import { HaproxyRuntime } from './runtime.ts'

/** An upstream answering `{name} {the Cookie header it got, or -}`; `/slow?ms=N` after N ms. */
async function echo(name: string): Promise<{ name: string; port: number; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://upstream')
    const answer = () => response.end(`${name} ${request.headers.cookie ?? '-'}`)
    if (url.pathname === '/slow') setTimeout(answer, Number(url.searchParams.get('ms')) || 0)
    else answer()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address !== 'object') throw new Error('no address')
  return {
    name,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

interface Answer {
  status: number
  /** The upstream's name. */
  server: string
  /** The Cookie header the upstream got. */
  seen: string
  /** `name=value` of the Set-Cookie the gateway sent, if any. */
  setCookie?: string
}

/** One GET on a fresh connection, with `cookie` if given; failures are status 0. */
function request(port: number, cookie?: string, pathname = '/'): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: http.OutgoingHttpHeaders = { connection: 'close', ...(cookie ? { cookie } : {}) }
    const sent = http.get({ host: '127.0.0.1', port, path: pathname, agent: false, headers }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        body += chunk
      })
      response.on('end', () => {
        const [server = '', seen = ''] = body.split(' ')
        const setCookie = response.headers['set-cookie']?.[0]?.split(';')[0]
        resolve({ status: response.statusCode ?? 0, server, seen, ...(setCookie ? { setCookie } : {}) })
      })
    })
    sent.on('error', (error) => resolve({ status: 0, server: '', seen: error.message }))
  })
}

/** A browser of one site: sends the cookie it was last given. */
function client(port: number) {
  let cookie: string | undefined
  return {
    get cookie() {
      return cookie
    },
    async get(pathname = '/'): Promise<Answer> {
      const answer = await request(port, cookie ? `${cookie}; theme=dark` : 'theme=dark', pathname)
      if (answer.setCookie) cookie = answer.setCookie
      return answer
    },
  }
}

const tally = (answers: Answer[]) => {
  const counts: Record<string, number> = {}
  for (const answer of answers) counts[answer.server] = (counts[answer.server] ?? 0) + 1
  return counts
}

const server = (id: string, port: number, weight?: number): SiteServer => ({
  id,
  host: 'pre-1',
  address: '127.0.0.1',
  port,
  ...(weight === undefined ? {} : { weight }),
})

describe('sticky sessions on a private HAProxy', () => {
  test('a client keeps its server at 1:1 and 3:1, others are balanced, runtime-added servers get the cookie a reload gives, and a removed server’s clients move without a failed request', async ({
    haproxy,
    annotate,
  }) => {
    const applier = new HaproxyApplier({ target: haproxy.target })
    const runtime = new HaproxyRuntime(haproxy.target)
    const listenPort = await freePort()
    const [a, b, c] = [await echo('a'), await echo('b'), await echo('c')]
    const secret = await applier.cookieSecret()
    expect(await applier.cookieSecret()).toBe(secret)
    const site = (servers: SiteServer[]) =>
      renderSite({
        project: 'demo',
        environment: 'sticky',
        listenPort,
        instances: servers,
        sticky: { secret },
      })
    try {
      const first = await applier.apply(site([server('a', a.port), server('b', b.port)]))
      expect(first).toMatchObject({ reloaded: true })
      const { cookie } = site([])
      const reloads = (await runtime.processes()).reloads

      // Without a cookie: balanced by weight (round robin, exactly 1:1), each answer setting one.
      const fresh = await Promise.all(Array.from({ length: 40 }, () => request(listenPort)))
      expect(tally(fresh)).toEqual({ a: 20, b: 20 })
      const values = new Map(fresh.map((answer) => [answer.server, answer.setCookie]))
      expect(values.get('a')).toMatch(new RegExp(`^${cookie}=[0-9a-f]{16}$`))
      expect(values.get('b')).toMatch(new RegExp(`^${cookie}=[0-9a-f]{16}$`))
      expect(values.get('a')).not.toBe(values.get('b'))

      // With it: one server for every request, the cookie set once and never shown to the app.
      const browser = client(listenPort)
      const home = (await browser.get()).server
      const stay = []
      for (let i = 0; i < 60; i++) stay.push(await browser.get())
      expect(tally(stay)).toEqual({ [home]: 60 })
      expect(stay.filter((answer) => answer.setCookie)).toEqual([])
      expect(new Set(stay.map((answer) => answer.seen))).toEqual(new Set(['theme=dark']))

      // 3:1 in place (no reload): the client stays; fresh clients follow the weights.
      await applier.apply(site([server('a', a.port, 3), server('b', b.port)]))
      for (let i = 0; i < 40; i++) expect((await browser.get()).server).toBe(home)
      const weighted = []
      for (let i = 0; i < 40; i++) weighted.push(await request(listenPort))
      expect(tally(weighted)).toEqual({ a: 30, b: 10 })

      // A server added at runtime gets its cookie before it takes a request.
      const added = await applier.apply(
        site([server('a', a.port, 3), server('b', b.port), server('c', c.port)]),
      )
      expect(added.commands).toEqual([
        'add server be_demo_sticky/c',
        'enable dynamic-cookie backend be_demo_sticky',
        'enable server be_demo_sticky/c',
      ])
      const onC = []
      for (let i = 0; i < 10; i++) onC.push(await request(listenPort))
      expect(onC.filter((answer) => answer.server === 'c').every((answer) => answer.setCookie)).toBe(true)
      const live = await runtime.cookies('be_demo_sticky')
      expect(live?.name).toBe(cookie)
      expect([...(live?.servers.values() ?? [])].every((value) => /^[0-9a-f]{16}$/.test(value))).toBe(true)
      expect(new Set(live?.servers.values()).size).toBe(3)
      expect((await runtime.processes()).reloads).toBe(reloads)

      // A reload (or restart) reads the file, which followed: every server keeps its value.
      const before = await runtime.processes()
      await runtime.reload()
      await until('the reloaded worker', async () => {
        // The master CLI does not answer while it re-executes: asked again.
        const table = await runtime.processes().catch(() => undefined)
        const worker = table?.workers.find((pid) => !before.workers.includes(pid))
        return worker !== undefined && (await runtime.workerPid().catch(() => 0)) === worker
      })
      expect((await runtime.cookies('be_demo_sticky'))?.servers).toEqual(live?.servers)
      for (let i = 0; i < 10; i++) expect((await browser.get()).server).toBe(home)

      // The client's server leaves while a request of it is in flight and the client keeps
      // sending: the request finishes there, the next ones go to another server (a new cookie).
      const slow = browser.get('/slow?ms=700')
      let sending = true
      const during: Answer[] = []
      const load = (async () => {
        while (sending) during.push(await browser.get())
      })()
      await until('requests before the removal', async () => during.length >= 20)
      const others = [server('a', a.port, 3), server('b', b.port), server('c', c.port)].filter(
        (s) => s.id !== home,
      )
      const removed = await applier.apply(site(others))
      expect(removed.commands).toEqual([`set server be_demo_sticky/${home} state maint`])
      const count = during.length
      await until('requests after the removal', async () => during.length >= count + 40)
      sending = false
      await load
      expect(await slow).toMatchObject({ status: 200, server: home })
      expect(during.filter((answer) => answer.status !== 200)).toEqual([])
      const after = during.slice(count + 1)
      const moved = after[0]?.server
      expect(moved).not.toBe(home)
      expect(tally(after)).toEqual({ [moved ?? '']: after.length })
      expect(await applier.finishDrain('be_demo_sticky', [home])).toEqual([home])
      await annotate(
        `sticky client: ${stay.length + 40 + 10} requests on one server at 1:1, 3:1 and across a reload; ${during.length} requests across its server's removal, 0 failed`,
      )
    } finally {
      await Promise.all([a.close(), b.close(), c.close()])
    }
  })

  test('the agent turns sticky on and off with one reload each, serving throughout', async ({
    haproxy,
    redis,
    redisPrefix,
  }) => {
    const listenPort = await freePort()
    const site = { project: 'demo', environment: 'pre-release', listenPort }
    const h = harness(redis, redisPrefix, haproxy, [site])
    const runtime = new HaproxyRuntime(haproxy.target)
    const [one, two] = [await echo('one'), await echo('two')]
    const file = path.join(haproxy.target.sitesDir, 'demo_pre-release.cfg')
    try {
      const agent = h.agent()
      await agent.start()
      const traffic = createTrafficSwitch({ redis, prefix: redisPrefix, ttlSeconds: 60 })
      const signal = AbortSignal.timeout(60_000)
      await traffic.add(instance('one', one.port), signal)
      await traffic.add(instance('two', two.port), signal)
      let sending = true
      const answers: Answer[] = []
      const load = (async () => {
        while (sending) answers.push(await request(listenPort))
      })()
      const reloads = (await runtime.processes()).reloads
      expect((await request(listenPort)).setCookie).toBeUndefined()
      /** The version the agent acknowledged once HAProxy confirmed it. */
      const acked = () => agent.status()[0]?.ack?.version
      const plain = acked()

      h.sites[0] = { ...site, sticky: true }
      await agent.sync()
      await until('the sticky site acknowledged', async () => acked() !== plain)
      expect((await request(listenPort)).setCookie).toMatch(/^SLIPWAY_[0-9a-f]{8}=[0-9a-f]{16}$/)
      expect((await runtime.processes()).reloads).toBe(reloads + 1)
      expect(await readFile(file, 'utf8')).toMatch(/ {2}cookie SLIPWAY_[0-9a-f]{8} insert indirect/)
      // Servers added later get a cookie too.
      const three = await echo('three')
      try {
        await traffic.add(instance('three', three.port), signal)
        await until('three answering with its cookie', async () => {
          const answer = await request(listenPort)
          return answer.server === 'three' && answer.setCookie
        })
      } finally {
        await traffic.remove(instance('three', three.port), signal)
        await three.close()
      }

      const sticky = acked()
      h.sites[0] = site
      await agent.sync()
      await until('the plain site acknowledged', async () => acked() !== sticky)
      expect((await runtime.cookies('be_demo_pre-release'))?.name).toBe('')
      expect((await request(listenPort)).setCookie).toBeUndefined()
      expect((await runtime.processes()).reloads).toBe(reloads + 2)
      expect(await readFile(file, 'utf8')).not.toContain('cookie')
      sending = false
      await load
      expect(answers.length).toBeGreaterThan(50)
      expect(answers.filter((answer) => answer.status !== 200)).toEqual([])
    } finally {
      await h.close()
      await Promise.all([one.close(), two.close()])
    }
  })
})
