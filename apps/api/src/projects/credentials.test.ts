import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect } from 'vitest'
import { makeUser, apiTest as test } from '../../test/support/test-app.ts'

const pem = (what: string) => `-----BEGIN ${what}-----\nAAAA\n-----END ${what}-----\n`

/** A local HTTP server that records every request it gets (none is expected). */
async function recorder() {
  const seen: Array<{ url: string | undefined; headers: IncomingHttpHeaders }> = []
  const server = createServer((request, response) => {
    seen.push({ url: request.url, headers: request.headers })
    response.end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

describe('a stored credential goes only where it was given for', () => {
  test('moving gitlab.baseUrl without a token clears the token; with one, the new token is kept', async ({
    app,
    db,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const created = await app.inject({
      method: 'POST',
      url: '/api/projects',
      headers: admin.headers,
      payload: {
        slug: 'shop',
        name: 'Shop',
        gitUrl: 'https://gitlab.example.com/team/shop.git',
        imageRepository: 'team/shop',
        appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
        gitlab: { baseUrl: 'https://gitlab.example.com', project: 'team/shop', token: 'glpat-very-secret' },
      },
    })
    expect(created.statusCode).toBe(201)
    const { id } = created.json()
    const maintainer = await makeUser(db, { projectId: id, role: 'maintainer' })
    const patch = (payload: object) =>
      app.inject({ method: 'PATCH', url: `/api/projects/${id}`, headers: maintainer.headers, payload })
    const evil = await recorder()
    try {
      // Same URL, other project path: the token stays.
      const same = await patch({ gitlab: { baseUrl: 'https://gitlab.example.com/', project: 'team/other' } })
      expect(same.statusCode).toBe(200)
      expect(same.json()).toMatchObject({ gitlab: { tokenSet: true }, cleared: [] })

      const moved = await patch({ gitlab: { baseUrl: evil.url, project: 'team/shop' } })
      expect(moved.statusCode).toBe(200)
      expect(moved.json()).toMatchObject({
        gitlab: { baseUrl: evil.url, tokenSet: false },
        cleared: ['gitlab.token'],
      })
      const row = await db.project.findUniqueOrThrow({ where: { id } })
      expect(row.gitlabTokenEnc).toBeNull()
      expect(row.gitlabBaseUrl).toBe(evil.url)
      const event = await db.auditEvent.findFirstOrThrow({
        where: { projectId: id, action: 'project.update' },
        orderBy: { id: 'desc' },
      })
      expect(event.after).toMatchObject({ gitlab: { tokenSet: false } })

      const resent = await patch({
        gitlab: { baseUrl: 'https://gitlab.other.test', project: 'team/shop', token: 'glpat-new' },
      })
      expect(resent.json()).toMatchObject({ gitlab: { tokenSet: true }, cleared: [] })
      expect(resent.body).not.toContain('glpat')
      expect(evil.seen).toEqual([])
    } finally {
      await evil.close()
    }
  })

  test('moving a registry URL without a password clears it; with one, it is kept', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const created = await app.inject({
      method: 'POST',
      url: '/api/registries',
      headers: admin.headers,
      payload: { name: 'main', url: 'registry.example.com', username: 'ci', password: 'registry-s3cret' },
    })
    const { id } = created.json()
    const patch = (payload: object) =>
      app.inject({ method: 'PATCH', url: `/api/registries/${id}`, headers: admin.headers, payload })
    expect((await patch({ name: 'main2' })).json()).toMatchObject({ passwordSet: true, cleared: [] })
    const moved = await patch({ url: 'registry.evil.test:5000' })
    expect(moved.statusCode).toBe(200)
    expect(moved.json()).toMatchObject({ passwordSet: false, username: 'ci', cleared: ['password'] })
    expect((await db.registry.findUniqueOrThrow({ where: { id } })).passwordEnc).toBeNull()
    const resent = await patch({ url: 'registry.other.test', password: 'other-s3cret' })
    expect(resent.json()).toMatchObject({ passwordSet: true, cleared: [] })
  })

  test('moving a host endpoint clears the TLS parts not sent again', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const created = await app.inject({
      method: 'POST',
      url: '/api/hosts',
      headers: admin.headers,
      payload: {
        name: 'tls-host',
        endpoint: 'tcp://192.0.2.10:2376',
        tls: { ca: pem('CERTIFICATE'), cert: pem('CERTIFICATE'), key: pem('PRIVATE KEY') },
      },
    })
    const { id } = created.json()
    const patch = (payload: object) =>
      app.inject({ method: 'PATCH', url: `/api/hosts/${id}`, headers: admin.headers, payload })
    const moved = await patch({ endpoint: 'tcp://192.0.2.66:2376', tls: { ca: pem('OTHER CERTIFICATE') } })
    expect(moved.statusCode).toBe(200)
    expect(moved.json()).toMatchObject({
      address: '192.0.2.66',
      tls: { caSet: true, certSet: false, keySet: false },
      cleared: ['tls.cert', 'tls.key'],
    })
    const row = await db.host.findUniqueOrThrow({ where: { id } })
    expect(row.tlsKeyEnc).toBeNull()
    expect(row.tlsCertPem).toBeNull()
    expect(row.tlsCaPem).toContain('OTHER CERTIFICATE')

    const withAll = await patch({
      endpoint: 'tcp://192.0.2.67:2376',
      tls: { ca: pem('CERTIFICATE'), cert: pem('CERTIFICATE'), key: pem('PRIVATE KEY') },
    })
    expect(withAll.json()).toMatchObject({ tls: { caSet: true, certSet: true, keySet: true }, cleared: [] })
    const unmoved = await patch({ endpoint: 'tcp://192.0.2.67:2376', labels: { zone: 'a' } })
    expect(unmoved.json()).toMatchObject({ tls: { keySet: true }, cleared: [] })
  })
})
