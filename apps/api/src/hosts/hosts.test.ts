import { describe, expect } from 'vitest'
import { makeUser, apiTest as test } from '../test-app.ts'

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
        payload: { name, endpoint: 'unix:///var/run/none.sock' },
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
