import { readFile } from 'node:fs/promises'
import { secretContext } from '@slipway/db'
import { makeTestRepo, servePrivateRepo } from '@slipway/testing'
import { describe, expect, onTestFinished } from 'vitest'
import { sealGitUrlCredentials } from '../src/projects/git-url.ts'
import { makeProject, makeUser, apiTest as test } from './support/test-app.ts'

const token = 'glpat-git-url-secret'
const withCredentials = `https://ci:${token}@gitlab.example.com/team/shop.git`
const shown = 'https://gitlab.example.com/team/shop.git'

/**
 * Issue 14, item 12: credentials in the git URL are used, never shown nor audited; and like
 * every other secret they are encrypted at rest, apart from the URL.
 */
describe('a git URL with credentials', () => {
  test('is shown without them to everyone, kept out of the audit log, and kept when sent back as shown', async ({
    app,
    db,
    deps,
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
    // At rest: the URL without them, and them in an envelope bound to this project.
    const stored = await db.project.findUniqueOrThrow({ where: { id } })
    expect(stored.gitUrl).toBe(shown)
    expect(JSON.stringify(stored)).not.toContain(token)
    expect(
      deps.secrets.decrypt(stored.gitCredentialsEnc ?? '', secretContext.projectGitCredentials(id)),
    ).toBe(`ci:${token}`)
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
    expect(renamed.json().cleared).toEqual([])
    const kept = await db.project.findUniqueOrThrow({ where: { id } })
    expect(kept.gitUrl).toBe(shown)
    expect(deps.secrets.decrypt(kept.gitCredentialsEnc ?? '', secretContext.projectGitCredentials(id))).toBe(
      `ci:${token}`,
    )

    // New credentials sent with the URL replace the old ones.
    const replaced = await app.inject({
      method: 'PATCH',
      url: '/api/projects/shop',
      headers: maintainer.headers,
      payload: { gitUrl: 'https://ci:glpat-next@gitlab.example.com/team/shop.git' },
    })
    expect(replaced.statusCode).toBe(200)
    const next = await db.project.findUniqueOrThrow({ where: { id } })
    expect(next.gitUrl).toBe(shown)
    expect(deps.secrets.decrypt(next.gitCredentialsEnc ?? '', secretContext.projectGitCredentials(id))).toBe(
      'ci:glpat-next',
    )

    // Another host: the credentials do not follow the URL there.
    const moved = await app.inject({
      method: 'PATCH',
      url: '/api/projects/shop',
      headers: maintainer.headers,
      payload: { gitUrl: 'https://elsewhere.example/team/shop.git' },
    })
    expect(moved.statusCode).toBe(200)
    expect(moved.json().cleared).toEqual(['gitUrl.credentials'])
    expect(await db.project.findUniqueOrThrow({ where: { id } })).toMatchObject({
      gitUrl: 'https://elsewhere.example/team/shop.git',
      gitCredentialsEnc: null,
    })

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

  test('are used to resolve the ref of a pipeline started by hand, though not stored in the URL', async ({
    app,
    db,
  }) => {
    const repo = await makeTestRepo({ commits: 2 })
    onTestFinished(() => repo.remove())
    const served = await servePrivateRepo(repo.url.slice('file://'.length), 'ci', token)
    onTestFinished(() => served.close())
    const admin = await makeUser(db, { isAdmin: true })
    const created = await app.inject({
      method: 'POST',
      url: '/api/projects',
      headers: admin.headers,
      payload: {
        slug: 'private',
        name: 'Private',
        gitUrl: served.url,
        imageRepository: 'team/private',
        appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
      },
    })
    expect(created.statusCode).toBe(201)
    const row = await db.project.findUniqueOrThrow({ where: { id: created.json().id } })
    expect(row.gitUrl).not.toContain(token)
    expect(row.gitUrl).toBe(served.url.replace(`ci:${token}@`, ''))

    const started = await app.inject({
      method: 'POST',
      url: '/api/projects/private/pipelines',
      headers: admin.headers,
      payload: { ref: 'main' },
    })
    expect(started.statusCode, started.body).toBe(201)
    expect(started.json()).toMatchObject({ ref: 'main', commitSha: repo.main[1] })
    expect(served.authorized()).toBeGreaterThan(0)
  })

  test('stored inside the URL before are moved into the encrypted column, once', async ({ db, deps }) => {
    const legacy = await makeProject(db, { slug: 'legacy', gitUrl: withCredentials })
    const tokenOnly = await makeProject(db, {
      slug: 'token-only',
      gitUrl: 'https://glpat-only-token@gitlab.example.com/team/shop.git',
    })
    const plain = await makeProject(db, { slug: 'plain', gitUrl: shown })
    const ssh = await makeProject(db, { slug: 'ssh', gitUrl: 'ssh://git@gitlab.example.com/team/shop.git' })

    expect(await sealGitUrlCredentials(db, deps.secrets)).toBe(2)
    const rows = await db.project.findMany({ orderBy: { slug: 'asc' } })
    expect(JSON.stringify(rows)).not.toContain(token)
    expect(JSON.stringify(rows)).not.toContain('glpat-only-token')
    const open = (id: string) => {
      const envelope = rows.find((row) => row.id === id)?.gitCredentialsEnc
      return envelope ? deps.secrets.decrypt(envelope, secretContext.projectGitCredentials(id)) : null
    }
    expect(rows.map((row) => [row.slug, row.gitUrl])).toEqual([
      ['legacy', shown],
      ['plain', shown],
      ['ssh', 'ssh://git@gitlab.example.com/team/shop.git'],
      ['token-only', shown],
    ])
    expect([legacy, tokenOnly, plain, ssh].map((project) => open(project.id))).toEqual([
      `ci:${token}`,
      'glpat-only-token',
      null,
      null,
    ])

    // Run again (the next start, or a second API beside): nothing left to move, nothing changed.
    expect(await sealGitUrlCredentials(db, deps.secrets)).toBe(0)
    expect(await db.project.findMany({ orderBy: { slug: 'asc' } })).toEqual(rows)
  })
})
