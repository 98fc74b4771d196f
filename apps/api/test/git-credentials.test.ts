import { readFile } from 'node:fs/promises'
import { describe, expect } from 'vitest'
import { makeUser, apiTest as test } from './support/test-app.ts'

const token = 'glpat-git-url-secret'
const withCredentials = `https://ci:${token}@gitlab.example.com/team/shop.git`
const shown = 'https://gitlab.example.com/team/shop.git'

/** Issue 14, item 12: credentials in the git URL are used, never shown nor audited. */
describe('a git URL with credentials', () => {
  test('is shown without them to everyone, kept out of the audit log, and kept when sent back as shown', async ({
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
        gitUrl: withCredentials,
        imageRepository: 'team/shop',
        appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
      },
    })
    expect(created.statusCode).toBe(201)
    expect(created.json().gitUrl).toBe(shown)
    expect(created.body).not.toContain(token)
    const { id } = created.json()
    const viewer = await makeUser(db, { projectId: id, role: 'viewer' })
    const maintainer = await makeUser(db, { projectId: id, role: 'maintainer' })

    for (const url of ['/api/projects/shop', '/api/projects']) {
      const seen = await app.inject({ method: 'GET', url, headers: viewer.headers })
      expect(seen.statusCode).toBe(200)
      expect(seen.body).toContain(shown)
      expect(seen.body).not.toContain(token)
    }

    // The settings form sends the URL back as it was shown: the credentials stay.
    const renamed = await app.inject({
      method: 'PATCH',
      url: '/api/projects/shop',
      headers: maintainer.headers,
      payload: { name: 'Shop 2', gitUrl: shown },
    })
    expect(renamed.statusCode).toBe(200)
    expect(renamed.body).not.toContain(token)
    expect((await db.project.findUniqueOrThrow({ where: { id } })).gitUrl).toBe(withCredentials)

    // Another host: the credentials do not follow the URL there.
    const moved = await app.inject({
      method: 'PATCH',
      url: '/api/projects/shop',
      headers: maintainer.headers,
      payload: { gitUrl: 'https://elsewhere.example/team/shop.git' },
    })
    expect(moved.statusCode).toBe(200)
    expect((await db.project.findUniqueOrThrow({ where: { id } })).gitUrl).toBe(
      'https://elsewhere.example/team/shop.git',
    )

    const audit = await db.auditEvent.findMany({ where: { projectId: id } })
    expect(audit.map((event) => event.action)).toEqual(
      expect.arrayContaining(['project.create', 'project.update']),
    )
    expect(JSON.stringify(audit.map(({ before, after }) => ({ before, after })))).not.toContain(token)
    expect(JSON.stringify(audit.map(({ after }) => after))).toContain(shown)
    const auditApi = await app.inject({ method: 'GET', url: '/api/audit', headers: admin.headers })
    expect(auditApi.statusCode).toBe(200)
    expect(auditApi.body).not.toContain(token)
  })

  test('already in the audit log from before are removed by the migration', async ({ db }) => {
    const old = await db.auditEvent.create({
      data: {
        actorLabel: 'admin@example.com',
        action: 'project.update',
        targetType: 'project',
        before: { gitUrl: withCredentials, name: 'Shop' },
        after: { gitUrl: 'https://glpat-only-token@gitlab.example.com/team/shop.git', name: 'Shop 2' },
      },
    })
    const other = await db.auditEvent.create({
      data: {
        actorLabel: 'system',
        action: 'pipeline.create',
        targetType: 'pipeline',
        after: { ref: 'main' },
      },
    })
    const sql = await readFile(
      new URL(
        '../../../prisma/migrations/20261204193000_redact_git_url_credentials/migration.sql',
        import.meta.url,
      ),
      'utf8',
    )
    const statements = sql
      .split(/;\s*$/m)
      .map((statement) => statement.replace(/^--.*$/gm, '').trim())
      .filter(Boolean)
    await db.$transaction(async (tx) => {
      for (const statement of statements) await tx.$executeRawUnsafe(statement)
    })
    const redacted = await db.auditEvent.findUniqueOrThrow({ where: { id: old.id } })
    expect(redacted.before).toEqual({ gitUrl: shown, name: 'Shop' })
    expect(redacted.after).toEqual({ gitUrl: shown, name: 'Shop 2' })
    expect((await db.auditEvent.findUniqueOrThrow({ where: { id: other.id } })).after).toEqual({
      ref: 'main',
    })
    // Still append-only afterwards.
    await expect(db.auditEvent.delete({ where: { id: other.id } })).rejects.toThrow(/append-only/)
  })
})
