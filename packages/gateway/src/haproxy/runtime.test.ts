import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { isAppError } from '@slipway/core'
import { freePort } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { get, gatewayTest as test, until, upstream } from '../test-support/fixtures.ts'
import { renderSite } from './render.ts'
import { cliCommand, HaproxyRuntime } from './runtime.ts'

async function refusal(work: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`)
  return { code: error.code, message: error.message }
}

describe('HaproxyRuntime on a private HAProxy', () => {
  test('add, enable, drain, maint and del through the Runtime API', async ({ haproxy }) => {
    const runtime = new HaproxyRuntime(haproxy.target)
    const listenPort = await freePort()
    const site = renderSite({ project: 'demo', environment: 'rt', listenPort, instances: [] })
    await writeFile(path.join(haproxy.target.sitesDir, site.fileName), site.text)
    const before = await runtime.processes()
    expect(before.master).toBe(haproxy.pid)
    expect(before.workers).toHaveLength(1)
    await runtime.reload()
    await until(
      'the reloaded site',
      async () => (await runtime.servers(site.backend).catch(() => undefined)) !== undefined,
    )
    expect(await runtime.hasProxy(site.frontend)).toBe(true)

    const empty = await get(listenPort)
    expect(empty.status).toBe(503)
    expect(empty.headers['retry-after']).toBe('5')
    expect(empty.headers['content-type']).toBe('application/json')
    expect(JSON.parse(empty.body)).toEqual({
      error: { code: 'DEPENDENCY_UNAVAILABLE', message: 'no live instance of demo/rt' },
    })

    const [one, two] = [await upstream('one'), await upstream('two')]
    try {
      await runtime.addServer(site.backend, 'one', '127.0.0.1', one.port)
      expect((await runtime.servers(site.backend))?.[0]).toMatchObject({ name: 'one', admin: 1 })
      expect((await get(listenPort)).status).toBe(503)
      await runtime.enableServer(site.backend, 'one')
      expect((await get(listenPort)).body).toBe('one\n')
      await runtime.addServer(site.backend, 'two', '127.0.0.1', two.port)
      await runtime.enableServer(site.backend, 'two')
      expect(await runtime.servers(site.backend)).toEqual([
        { name: 'one', address: '127.0.0.1', port: one.port, operational: 2, admin: 0, weight: 1 },
        { name: 'two', address: '127.0.0.1', port: two.port, operational: 2, admin: 0, weight: 1 },
      ])

      // A slow request on `one`, then drain: it finishes there, no new request goes there.
      const seen = new Set<string>()
      let slow: Promise<{ body: string }> | undefined
      for (let i = 0; i < 4 && !slow; i++) {
        const before = one.arrivals.length
        const request = get(listenPort, '/slow?ms=1500')
        await until(
          'the slow request arriving',
          async () => one.arrivals.length > before || two.arrivals.length > 0 || undefined,
        )
        if (one.arrivals.length > before) slow = request
        else await request
      }
      expect(slow).toBeDefined()
      expect((await runtime.sessions(site.backend)).get('one')).toBe(1)
      await runtime.setState(site.backend, 'one', 'drain')
      for (let i = 0; i < 6; i++) seen.add((await get(listenPort)).body)
      expect(seen).toEqual(new Set(['two\n']))
      expect((await runtime.servers(site.backend))?.[0]).toMatchObject({ name: 'one', admin: 8 })
      expect((await slow)?.body).toBe('slow one\n')
      expect((await runtime.sessions(site.backend)).get('one')).toBe(0)
      await runtime.setState(site.backend, 'one', 'maint')
      await runtime.deleteServer(site.backend, 'one')
      expect((await runtime.servers(site.backend))?.map((server) => server.name)).toEqual(['two'])
      expect(await runtime.workerPid()).toBe((await runtime.processes()).workers[0])
    } finally {
      await one.close()
      await two.close()
    }
  })

  test("any answer but the documented success is an error naming the command and HAProxy's answer", async ({
    haproxy,
  }) => {
    const runtime = new HaproxyRuntime(haproxy.target)
    const site = renderSite({
      project: 'demo',
      environment: 'rt',
      listenPort: await freePort(),
      instances: [],
    })
    await writeFile(path.join(haproxy.target.sitesDir, site.fileName), site.text)
    await runtime.reload()
    await until(
      'the reloaded site',
      async () => (await runtime.servers(site.backend).catch(() => undefined)) !== undefined,
    )

    await runtime.addServer(site.backend, 'one', '127.0.0.1', 9)
    expect(await refusal(runtime.addServer(site.backend, 'one', '127.0.0.1', 9))).toEqual({
      code: 'DEPENDENCY_UNAVAILABLE',
      message: `HAProxy refused "add server ${site.backend}/one 127.0.0.1:9": Already exists a server with the same name in backend.`,
    })
    expect(await refusal(runtime.deleteServer(site.backend, 'nope'))).toEqual({
      code: 'DEPENDENCY_UNAVAILABLE',
      message: `HAProxy refused "del server ${site.backend}/nope": No such server.`,
    })
    // A server in service cannot be deleted (a new one starts in maintenance).
    await runtime.enableServer(site.backend, 'one')
    expect((await refusal(runtime.deleteServer(site.backend, 'one'))).message).toMatch(
      /^HAProxy refused "del server be_demo_rt\/one": .*maintenance/,
    )
    expect((await refusal(runtime.enableServer('be_nope', 'one'))).message).toMatch(
      /^HAProxy refused "enable server be_nope\/one": No such backend\./,
    )
    expect(await runtime.servers('be_nope')).toBeUndefined()
    expect(await runtime.hasProxy('fe_nope')).toBe(false)
    expect((await refusal(cliCommand(haproxy.target.adminSocket, 'show info; show stat'))).code).toBe(
      'VALIDATION_FAILED',
    )
    const gone = await refusal(cliCommand(path.join(haproxy.dir, 'nothing.sock'), 'show info'))
    expect(gone.code).toBe('DEPENDENCY_UNAVAILABLE')
    expect(gone.message).toMatch(/nothing\.sock does not answer \(ENOENT\); is HAProxy running\?/)
    const canceled = await refusal(runtime.servers(site.backend, AbortSignal.abort()))
    expect(canceled.code).toBe('CANCELED')
  })
})
