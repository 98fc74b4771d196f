import { describe, expect } from 'vitest'
import { makeProject, makeUser, apiTest as test } from '../../test/support/test-app.ts'
import { resolveEntries } from './versions.ts'

describe('environments and config', () => {
  test('environments take hosts, validate them, and refuse duplicate names', async ({ app, db }) => {
    const project = await makeProject(db)
    const maintainer = await makeUser(db, { projectId: project.id, role: 'maintainer' })
    const host = await db.host.create({
      data: { name: 'prod-1', endpoint: 'unix:///tmp/none.sock', address: '192.0.2.13' },
    })
    // An instance administrator granted the host to the project (packages/policy grants.ts).
    await db.projectHostGrant.create({ data: { projectId: project.id, hostId: host.id } })
    const url = `/api/projects/${project.slug}/environments`
    const created = await app.inject({
      method: 'POST',
      url,
      headers: maintainer.headers,
      payload: {
        name: 'production',
        position: 1,
        replicas: 3,
        hostIds: [host.id],
        protected: true,
        requiredApprovals: 1,
      },
    })
    expect(created.statusCode).toBe(201)
    expect(created.json()).toMatchObject({
      name: 'production',
      replicas: 3,
      strategy: { batchSize: 'auto', maxUnavailable: 0, drainSeconds: 2, onPullFailure: 'abort' },
      hosts: [{ id: host.id, name: 'prod-1', status: 'unknown' }],
    })
    const duplicate = await app.inject({
      method: 'POST',
      url,
      headers: maintainer.headers,
      payload: { name: 'production', position: 2 },
    })
    expect(duplicate.statusCode).toBe(409)
    expect(duplicate.json().error.message).toBe('name is already taken')
    const unknownHost = await app.inject({
      method: 'POST',
      url,
      headers: maintainer.headers,
      payload: { name: 'staging', position: 3, hostIds: ['018f0000-0000-7000-8000-000000000000'] },
    })
    expect(unknownHost.statusCode).toBe(400)
    expect(unknownHost.json().error.details.fields[0].path).toBe('body.hostIds')
    expect(await db.environment.count()).toBe(1)
  })

  test('config changes make versions; secrets are write-only and encrypted', async ({ app, db, deps }) => {
    const project = await makeProject(db)
    const env = await db.environment.create({
      data: { projectId: project.id, name: 'production', position: 0 },
    })
    const maintainer = await makeUser(db, { projectId: project.id, role: 'maintainer' })
    const developer = await makeUser(db, { projectId: project.id, role: 'developer' })
    const url = `/api/projects/${project.slug}/environments/production/config`

    const first = await app.inject({
      method: 'PATCH',
      url,
      headers: maintainer.headers,
      payload: {
        variables: { LOG_LEVEL: 'info', DB_HOST: 'db.internal' },
        secrets: { DB_PASSWORD: 'pa55word!' },
      },
    })
    expect(first.statusCode).toBe(200)
    expect(first.json()).toMatchObject({
      version: 1,
      variables: [
        { key: 'DB_HOST', value: 'db.internal' },
        { key: 'LOG_LEVEL', value: 'info' },
      ],
      secrets: [{ key: 'DB_PASSWORD' }],
    })
    expect(first.body).not.toContain('pa55word!')

    const second = await app.inject({
      method: 'PATCH',
      url,
      headers: maintainer.headers,
      payload: { variables: { LOG_LEVEL: 'debug' }, unset: ['DB_HOST'], note: 'debugging' },
    })
    expect(second.json()).toMatchObject({
      version: 2,
      variables: [{ key: 'LOG_LEVEL', value: 'debug' }],
      secrets: [{ key: 'DB_PASSWORD' }],
    })

    const read = await app.inject({ method: 'GET', url, headers: developer.headers })
    expect(read.json().version).toBe(2)
    expect(read.body).not.toContain('pa55word!')
    const versions = await app.inject({ method: 'GET', url: `${url}/versions`, headers: developer.headers })
    expect(versions.json().map((v: { version: number; note: string | null }) => [v.version, v.note])).toEqual(
      [
        [2, 'debugging'],
        [1, null],
      ],
    )

    const stored = await db.configEntry.findMany({
      where: { configVersion: { environmentId: env.id, version: 2 } },
    })
    const secret = stored.find((entry) => entry.key === 'DB_PASSWORD')
    expect(secret?.value).toBeNull()
    expect(secret?.valueEnc).toMatch(/^v1\./)
    expect(resolveEntries(stored, env.id, deps.secrets)).toEqual({
      DB_PASSWORD: 'pa55word!',
      LOG_LEVEL: 'debug',
    })

    const audits = await db.auditEvent.findMany({
      where: { action: 'config.update' },
      orderBy: { id: 'asc' },
    })
    expect(audits).toHaveLength(2)
    expect(JSON.stringify(audits.map((a) => [a.before, a.after]))).not.toContain('pa55word!')
    expect(audits[0]?.after).toMatchObject({ changed: ['DB_HOST', 'DB_PASSWORD', 'LOG_LEVEL'] })
  })

  test('developers may read config but not change it; reserved names are refused', async ({ app, db }) => {
    const project = await makeProject(db)
    await db.environment.create({ data: { projectId: project.id, name: 'production', position: 0 } })
    const developer = await makeUser(db, { projectId: project.id, role: 'developer' })
    const maintainer = await makeUser(db, { projectId: project.id, role: 'maintainer' })
    const url = `/api/projects/${project.slug}/environments/production/config`
    const denied = await app.inject({
      method: 'PATCH',
      url,
      headers: developer.headers,
      payload: { variables: { A: '1' } },
    })
    expect(denied.statusCode).toBe(403)
    const reserved = await app.inject({
      method: 'PATCH',
      url,
      headers: maintainer.headers,
      payload: { variables: { ENVT: 'x' } },
    })
    expect(reserved.statusCode).toBe(400)
    expect(reserved.json().error.details.fields[0].message).toMatch(/set by Slipway/)
    const empty = await app.inject({ method: 'PATCH', url, headers: maintainer.headers, payload: {} })
    expect(empty.statusCode).toBe(400)
    expect(await db.configVersion.count()).toBe(0)
  })
})
