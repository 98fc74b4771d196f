import { describe, expect } from 'vitest'
import { makeUser, apiTest as test } from '../../test/support/test-app.ts'

const demoProject = {
  slug: 'shop',
  name: 'Shop',
  gitUrl: 'https://gitlab.example.com/team/shop.git',
  imageRepository: 'team/shop',
  appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
  webhookSecret: 'webhook-s3cret',
  gitlab: { baseUrl: 'https://gitlab.example.com', project: 'team/shop', token: 'glpat-very-secret' },
}

describe('projects', () => {
  test('create returns defaults and never the secrets', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const response = await app.inject({
      method: 'POST',
      url: '/api/projects',
      headers: admin.headers,
      payload: demoProject,
    })
    expect(response.statusCode).toBe(201)
    const project = response.json()
    expect(project).toMatchObject({
      slug: 'shop',
      defaultBranch: 'main',
      branchRules: ['main'],
      dockerfilePath: 'Dockerfile',
      appSpec: {
        containerPort: 8080,
        stopGraceSeconds: 10,
        network: 'bridge',
        healthCheck: { type: 'http', retries: 3 },
      },
      webhook: { path: `/api/webhooks/gitlab/${project.id}`, secretSet: true },
      gitlab: { baseUrl: 'https://gitlab.example.com', project: 'team/shop', tokenSet: true },
    })
    expect(response.body).not.toContain('webhook-s3cret')
    expect(response.body).not.toContain('glpat-very-secret')
    const row = await db.project.findUniqueOrThrow({ where: { id: project.id } })
    expect(row.webhookSecretEnc).toMatch(/^v1\./)
    expect(row.webhookSecretEnc).not.toContain('webhook-s3cret')
    const auditRows = await db.auditEvent.findMany({ where: { projectId: project.id } })
    expect(auditRows.map((r) => r.action)).toEqual(['project.create'])
    expect(JSON.stringify(auditRows.map((r) => [r.before, r.after]))).not.toContain('s3cret')
  })

  test('a duplicate slug is a 409 naming the field, and changes nothing', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    await app.inject({ method: 'POST', url: '/api/projects', headers: admin.headers, payload: demoProject })
    const before = await db.auditEvent.count()
    const again = await app.inject({
      method: 'POST',
      url: '/api/projects',
      headers: admin.headers,
      payload: demoProject,
    })
    expect(again.statusCode).toBe(409)
    expect(again.json().error.code).toBe('CONFLICT')
    expect(again.json().error.message).toContain('slug')
    expect(await db.project.count()).toBe(1)
    expect(await db.auditEvent.count()).toBe(before)
  })

  test('invalid input is a 400 with field paths', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const response = await app.inject({
      method: 'POST',
      url: '/api/projects',
      headers: admin.headers,
      payload: {
        ...demoProject,
        slug: 'Not A Slug',
        gitUrl: '--upload-pack=touch /tmp/x',
        dockerfilePath: '../etc/passwd',
        extra: 1,
      },
    })
    expect(response.statusCode).toBe(400)
    const { error } = response.json()
    expect(error.code).toBe('VALIDATION_FAILED')
    const paths = error.details.fields.map((f: { path: string }) => f.path)
    expect(paths).toEqual(expect.arrayContaining(['body.slug', 'body.gitUrl', 'body.dockerfilePath']))
    expect(await db.project.count()).toBe(0)
  })

  test('the app network is bridge or host; anything else is a 400 naming it and changes nothing', async ({
    app,
    db,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    await app.inject({ method: 'POST', url: '/api/projects', headers: admin.headers, payload: demoProject })
    const patch = (network: string) =>
      app.inject({
        method: 'PATCH',
        url: '/api/projects/shop',
        headers: admin.headers,
        payload: { appSpec: { ...demoProject.appSpec, network } },
      })
    const host = await patch('host')
    expect(host.statusCode).toBe(200)
    expect(host.json().appSpec.network).toBe('host')
    const overlay = await patch('overlay')
    expect(overlay.statusCode).toBe(400)
    expect(overlay.json().error.code).toBe('VALIDATION_FAILED')
    expect(overlay.json().error.details.fields.map((f: { path: string }) => f.path)).toEqual([
      'body.appSpec.network',
    ])
    const row = await db.project.findUniqueOrThrow({ where: { slug: 'shop' } })
    expect((row.appSpec as { network: string }).network).toBe('host')
  })

  test('members see their projects; others get 404; viewers cannot update', async ({ app, db }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const { id } = (
      await app.inject({ method: 'POST', url: '/api/projects', headers: admin.headers, payload: demoProject })
    ).json()
    const viewer = await makeUser(db, { projectId: id, role: 'viewer' })
    const stranger = await makeUser(db)
    expect(
      (await app.inject({ method: 'GET', url: '/api/projects/shop', headers: viewer.headers })).statusCode,
    ).toBe(200)
    expect(
      (await app.inject({ method: 'GET', url: '/api/projects/shop', headers: stranger.headers })).statusCode,
    ).toBe(404)
    expect(
      (await app.inject({ method: 'GET', url: '/api/projects', headers: stranger.headers })).json(),
    ).toEqual([])
    const update = await app.inject({
      method: 'PATCH',
      url: '/api/projects/shop',
      headers: viewer.headers,
      payload: { name: 'X' },
    })
    expect(update.statusCode).toBe(403)
    expect(update.json().error.message).toMatch(
      /project.update needs one of the roles admin, maintainer; you are viewer/,
    )
    expect((await db.project.findUniqueOrThrow({ where: { id } })).name).toBe('Shop')
  })

  test('update records before and after in the audit log; clearing the webhook secret disables it', async ({
    app,
    db,
  }) => {
    const admin = await makeUser(db, { isAdmin: true })
    const { id } = (
      await app.inject({ method: 'POST', url: '/api/projects', headers: admin.headers, payload: demoProject })
    ).json()
    const maintainer = await makeUser(db, { projectId: id, role: 'maintainer' })
    const response = await app.inject({
      method: 'PATCH',
      url: `/api/projects/${id}`,
      headers: maintainer.headers,
      payload: { name: 'Shop 2', webhookSecret: null },
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ name: 'Shop 2', webhook: { secretSet: false } })
    const event = await db.auditEvent.findFirstOrThrow({ where: { action: 'project.update' } })
    expect(event.actorLabel).toBe(`${maintainer.email} via token test`)
    expect(event.before).toMatchObject({ name: 'Shop' })
    expect(event.after).toMatchObject({ name: 'Shop 2' })
  })
})
