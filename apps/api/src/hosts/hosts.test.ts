import { fleetHost, freePort } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { makeUser, apiTest as test } from '../../test/support/test-app.ts'
import type { App } from '../app.ts'

const pem = (what: string) => `-----BEGIN ${what}-----\nAAAA\n-----END ${what}-----\n`

describe('hosts', () => {
  test('an update changes the TLS parts it names and keeps the write-only key', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const created = await app.inject({
      method: 'POST',
      url: '/api/hosts',
      headers: admin.headers,
      payload: {
        name: 'tls-host',
        endpoint: 'tcp://127.0.0.1:2376',
        tls: { ca: pem('CERTIFICATE'), cert: pem('CERTIFICATE'), key: pem('PRIVATE KEY') },
      },
    })
    expect(created.statusCode).toBe(201)
    const id = created.json().id
    const patch = (payload: object) =>
      app.inject({ method: 'PATCH', url: `/api/hosts/${id}`, headers: admin.headers, payload })

    const keyBefore = (await db.host.findUniqueOrThrow({ where: { id } })).tlsKeyEnc
    const changed = await patch({ labels: { zone: 'a' }, tls: { ca: pem('NEW CERTIFICATE') } })
    expect(changed.statusCode).toBe(200)
    expect(changed.json()).toMatchObject({
      labels: { zone: 'a' },
      tls: { caSet: true, certSet: true, keySet: true },
    })
    expect(changed.body).not.toContain('PRIVATE KEY')
    const row = await db.host.findUniqueOrThrow({ where: { id } })
    expect(row.tlsCaPem).toContain('NEW CERTIFICATE')
    expect(row.tlsKeyEnc).toBe(keyBefore)

    const removed = await patch({ tls: null })
    expect(removed.json().tls).toEqual({ caSet: false, certSet: false, keySet: false })
  })

  test('renaming to a taken name is a 409 on the name field', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const add = (name: string) =>
      app.inject({
        method: 'POST',
        url: '/api/hosts',
        headers: admin.headers,
        payload: { name, endpoint: 'unix:///var/run/none.sock', address: '192.0.2.30' },
      })
    await add('first')
    const second = (await add('second')).json()
    const renamed = await app.inject({
      method: 'PATCH',
      url: `/api/hosts/${second.id}`,
      headers: admin.headers,
      payload: { name: 'first' },
    })
    expect(renamed.statusCode).toBe(409)
    expect(renamed.json().error.details.fields).toEqual([{ path: 'body.name', message: 'already taken' }])
  })
})

describe('host addresses', () => {
  const add = (app: App, headers: object, payload: object) =>
    app.inject({ method: 'POST', url: '/api/hosts', headers: headers as never, payload })

  test('the address defaults to a tcp:// endpoint’s IP and is shown and editable', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const created = await add(app, admin.headers, { name: 'prod-9', endpoint: 'tcp://10.0.0.5:2376' })
    expect(created.statusCode).toBe(201)
    expect(created.json().address).toBe('10.0.0.5')
    const listed = await app.inject({ method: 'GET', url: '/api/hosts', headers: admin.headers })
    expect(listed.json()).toEqual([expect.objectContaining({ name: 'prod-9', address: '10.0.0.5' })])

    const patch = (payload: object) =>
      app.inject({
        method: 'PATCH',
        url: `/api/hosts/${created.json().id}`,
        headers: admin.headers,
        payload,
      })
    // An address that followed the endpoint follows it again.
    expect((await patch({ endpoint: 'tcp://10.0.0.6:2376' })).json().address).toBe('10.0.0.6')
    expect((await patch({ address: 'FD00:0::6' })).json().address).toBe('fd00::6')
    // One set on its own stays when the endpoint changes.
    expect((await patch({ endpoint: 'tcp://10.0.0.7:2376' })).json().address).toBe('fd00::6')
    expect((await db.host.findUniqueOrThrow({ where: { name: 'prod-9' } })).address).toBe('fd00::6')
  })

  test('a unix:// or DNS endpoint needs an address: 400 naming body.address, nothing created', async ({
    app,
    db,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    for (const endpoint of ['unix:///var/run/docker.sock', 'tcp://docker.example.com:2376']) {
      const refused = await add(app, admin.headers, { name: 'local-1', endpoint })
      expect(refused.statusCode).toBe(400)
      expect(refused.json().error.code).toBe('VALIDATION_FAILED')
      expect(refused.json().error.details.fields.map((f: { path: string }) => f.path)).toEqual([
        'body.address',
      ])
    }
    expect(await db.host.count()).toBe(0)
    const given = await add(app, admin.headers, {
      name: 'local-1',
      endpoint: 'unix:///var/run/docker.sock',
      address: '10.0.0.8',
    })
    expect(given.statusCode).toBe(201)
    expect(given.json().address).toBe('10.0.0.8')

    // Moving that host to an endpoint that names no address keeps its own address...
    const patch = (payload: object) =>
      app.inject({ method: 'PATCH', url: `/api/hosts/${given.json().id}`, headers: admin.headers, payload })
    expect((await patch({ endpoint: 'tcp://docker.example.com:2376' })).json().address).toBe('10.0.0.8')
    // ...but one whose address came from its endpoint must be given one.
    const tcp = await add(app, admin.headers, { name: 'tcp-1', endpoint: 'tcp://10.0.0.9:2376' })
    const moved = await app.inject({
      method: 'PATCH',
      url: `/api/hosts/${tcp.json().id}`,
      headers: admin.headers,
      payload: { endpoint: 'unix:///var/run/docker.sock' },
    })
    expect(moved.statusCode).toBe(400)
    expect(moved.json().error.details.fields).toEqual([{ path: 'body.address', message: expect.any(String) }])
    const unchanged = await db.host.findUniqueOrThrow({ where: { name: 'tcp-1' } })
    expect([unchanged.endpoint, unchanged.address]).toEqual(['tcp://10.0.0.9:2376', '10.0.0.9'])
  })

  test('an address that is not an IP literal of one host is refused, on create and on edit', async ({
    app,
    db,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    for (const address of ['example.com', '10.0.0', '0.0.0.0', '::', '10.0.0.5:80', '[fd00::5]']) {
      const refused = await add(app, admin.headers, {
        name: 'bad-1',
        endpoint: 'tcp://10.0.0.5:2376',
        address,
      })
      expect(refused.statusCode, address).toBe(400)
      expect(refused.json().error.details.fields.map((f: { path: string }) => f.path)).toEqual([
        'body.address',
      ])
    }
    expect(await db.host.count()).toBe(0)
    const host = (await add(app, admin.headers, { name: 'good-1', endpoint: 'tcp://10.0.0.5:2376' })).json()
    const edit = await app.inject({
      method: 'PATCH',
      url: `/api/hosts/${host.id}`,
      headers: admin.headers,
      payload: { address: 'not-an-ip' },
    })
    expect(edit.statusCode).toBe(400)
    expect(edit.json().error.details.fields.map((f: { path: string }) => f.path)).toEqual(['body.address'])
    expect((await db.host.findUniqueOrThrow({ where: { id: host.id } })).address).toBe('10.0.0.5')
  })
})

describe('checking a host before adding it', () => {
  const check = (app: App, headers: object, payload: object) =>
    app.inject({ method: 'POST', url: '/api/hosts/check', headers: headers as never, payload })

  test('a fleet host: the daemon answers and reaches the registry; wrong credentials and a dead registry are told apart', async ({
    app,
    db,
    fleet,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const addRegistry = (name: string, url: string, password: string) =>
      app.inject({
        method: 'POST',
        url: '/api/registries',
        headers: admin.headers,
        payload: { name, url, username: fleet.registry.username, password },
      })
    expect((await addRegistry('fleet', fleet.registry.url, fleet.registry.password)).statusCode).toBe(201)
    expect((await addRegistry('wrong-password', fleet.registry.url, 'wrong')).statusCode).toBe(201)
    // The registry's machine, on a port where nothing listens.
    const nowhere = `${fleet.registry.url.split(':')[0]}:${await freePort()}`
    expect((await addRegistry('nowhere', nowhere, 'x')).statusCode).toBe(201)

    const host = fleetHost('pre-1')
    const response = await check(app, admin.headers, {
      name: 'pre-1-again',
      endpoint: host.endpoint,
      tls: { ca: host.tls.ca, cert: host.tls.cert, key: host.tls.key },
    })
    expect(response.statusCode).toBe(200)
    const result = response.json()
    expect(result.address).toBe(host.address)
    expect(result.docker).toMatchObject({ ok: true, version: expect.stringMatching(/^\d+\.\d+/) })
    expect(result.docker.apiVersion).toMatch(/^1\.\d+$/)
    const byName = Object.fromEntries(
      result.registries.map((r: { name: string; status: string; code?: string }) => [r.name, r]),
    )
    expect(byName.fleet).toMatchObject({ ok: true, status: 'ok' })
    expect(byName['wrong-password']).toMatchObject({
      ok: false,
      status: 'auth-failed',
      code: 'REGISTRY_AUTH_FAILED',
    })
    expect(byName.nowhere).toMatchObject({ ok: false, status: 'unreachable', code: 'REGISTRY_UNREACHABLE' })
    expect(result.ok).toBe(false)
    // Nothing was stored.
    expect(await db.host.count()).toBe(0)
  })

  test('an endpoint where nothing listens is reported unreachable, in the error codes of the API', async ({
    app,
    db,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    await db.registry.create({ data: { name: 'some', url: '192.0.2.20:5000' } })
    const port = await freePort()
    const response = await check(app, admin.headers, {
      name: 'nobody-home',
      endpoint: `tcp://127.0.0.1:${port}`,
    })
    expect(response.statusCode).toBe(200)
    const result = response.json()
    expect(result.ok).toBe(false)
    expect(result.docker).toMatchObject({
      ok: false,
      code: 'HOST_UNREACHABLE',
      message: expect.stringContaining('nobody-home is unreachable'),
      version: null,
    })
    expect(result.registries).toEqual([
      expect.objectContaining({ name: 'some', ok: false, status: 'not-checked' }),
    ])

    // The body is a create's: an endpoint without an address is refused the same way.
    const refused = await check(app, admin.headers, { name: 'x1', endpoint: 'unix:///tmp/none.sock' })
    expect(refused.statusCode).toBe(400)
    expect(refused.json().error.details.fields.map((f: { path: string }) => f.path)).toEqual(['body.address'])
  })
})
