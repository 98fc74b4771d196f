import { describe, expect } from 'vitest'
import { makeUser, apiTest as test } from '../../test/support/test-app.ts'
import type { App } from '../app.ts'

type Db = Parameters<typeof makeUser>[0]

/** Two projects' worth of infrastructure: a project, its maintainer, a granted host and registry, and others' ones. */
async function setUp(db: Db, app: App) {
  const admin = await makeUser(db, { isAdmin: true })
  const ours = await db.host.create({
    data: { name: 'ours', endpoint: 'unix:///tmp/ours.sock', address: '192.0.2.1' },
  })
  const theirs = await db.host.create({
    data: { name: 'theirs-prod', endpoint: 'unix:///tmp/theirs.sock', address: '192.0.2.2' },
  })
  const registry = await db.registry.create({ data: { name: 'shared', url: 'registry.example.com' } })
  const other = await db.registry.create({ data: { name: 'other', url: 'other.example.com' } })
  const created = await app.inject({
    method: 'POST',
    url: '/api/projects',
    headers: admin.headers,
    payload: {
      slug: 'shop',
      name: 'Shop',
      gitUrl: 'https://gitlab.example.com/team/shop.git',
      registryId: registry.id,
      imageRepository: 'team/shop',
      appSpec: { containerPort: 8080, healthCheck: { type: 'tcp' } },
    },
  })
  expect(created.statusCode).toBe(201)
  const project = created.json() as { id: string; slug: string }
  const granted = await app.inject({
    method: 'PUT',
    url: '/api/projects/shop/grants',
    headers: admin.headers,
    payload: {
      hostIds: [ours.id],
      registries: [{ registryId: registry.id, pathPrefix: 'team/shop' }],
      limits: { maxReplicas: 4, maxMemoryMb: 512, allowHostNetwork: false },
    },
  })
  expect(granted.statusCode).toBe(200)
  const maintainer = await makeUser(db, { projectId: project.id, role: 'maintainer' })
  /** Everything a refused request must leave as it was. */
  const snapshot = async () => ({
    project: await db.project.findUniqueOrThrow({ where: { id: project.id } }),
    environments: await db.environment.findMany({ include: { hosts: true }, orderBy: { name: 'asc' } }),
    hostGrants: await db.projectHostGrant.count(),
    registryGrants: await db.projectRegistryGrant.findMany(),
    audit: await db.auditEvent.count(),
  })
  return { admin, maintainer, project, ours, theirs, registry, other, snapshot }
}

const fieldsOf = (body: { error: { details: { fields: Array<{ path: string; rule?: string }> } } }) =>
  body.error.details.fields.map(({ path, rule }) => ({ path, rule }))

describe('project isolation: hosts, registries and limits are granted', () => {
  test('a maintainer places environments on granted hosts only, within the replica limit', async ({
    app,
    db,
  }) => {
    const world = await setUp(db, app)
    const post = (payload: object) =>
      app.inject({
        method: 'POST',
        url: '/api/projects/shop/environments',
        headers: world.maintainer.headers,
        payload,
      })
    const before = await world.snapshot()
    const elsewhere = await post({ name: 'prod', position: 1, hostIds: [world.ours.id, world.theirs.id] })
    expect(elsewhere.statusCode).toBe(403)
    expect(elsewhere.json().error.code).toBe('FORBIDDEN')
    expect(fieldsOf(elsewhere.json())).toEqual([{ path: 'body.hostIds', rule: 'host-not-granted' }])
    expect(elsewhere.json().error.message).toContain(world.theirs.id)
    const many = await post({ name: 'prod', position: 1, replicas: 1000, hostIds: [world.ours.id] })
    expect(many.statusCode).toBe(403)
    expect(fieldsOf(many.json())).toEqual([{ path: 'body.replicas', rule: 'replicas-over-limit' }])
    expect(await world.snapshot()).toEqual(before)

    const ok = await post({ name: 'prod', position: 1, replicas: 4, hostIds: [world.ours.id] })
    expect(ok.statusCode).toBe(201)
    const patch = (payload: object) =>
      app.inject({
        method: 'PATCH',
        url: '/api/projects/shop/environments/prod',
        headers: world.maintainer.headers,
        payload,
      })
    const afterCreate = await world.snapshot()
    expect((await patch({ hostIds: [world.theirs.id] })).statusCode).toBe(403)
    expect((await patch({ replicas: 5 })).statusCode).toBe(403)
    expect(await world.snapshot()).toEqual(afterCreate)
    expect((await patch({ replicas: 3 })).statusCode).toBe(200)
  })

  test('a maintainer pushes only below the granted path of a granted registry', async ({ app, db }) => {
    const world = await setUp(db, app)
    const patch = (payload: object) =>
      app.inject({ method: 'PATCH', url: '/api/projects/shop', headers: world.maintainer.headers, payload })
    const before = await world.snapshot()
    const otherPath = await patch({ imageRepository: 'team/bank' })
    expect(otherPath.statusCode).toBe(403)
    expect(fieldsOf(otherPath.json())).toEqual([
      { path: 'body.imageRepository', rule: 'repository-outside-grant' },
    ])
    const sibling = await patch({ imageRepository: 'team/shop-evil' })
    expect(sibling.statusCode).toBe(403)
    const otherRegistry = await patch({ registryId: world.other.id })
    expect(otherRegistry.statusCode).toBe(403)
    expect(fieldsOf(otherRegistry.json())).toEqual([
      { path: 'body.registryId', rule: 'registry-not-granted' },
    ])
    expect(await world.snapshot()).toEqual(before)
    const below = await patch({ imageRepository: 'team/shop/api' })
    expect(below.statusCode).toBe(200)
    expect(below.json().imageRepository).toBe('team/shop/api')
  })

  test('the host network and memory over the limit need an administrator', async ({ app, db }) => {
    const world = await setUp(db, app)
    const appSpec = (extra: object) => ({
      appSpec: { containerPort: 8080, healthCheck: { type: 'tcp' }, ...extra },
    })
    const patch = (headers: Record<string, string>, payload: object) =>
      app.inject({ method: 'PATCH', url: '/api/projects/shop', headers, payload })
    const before = await world.snapshot()
    const hostNet = await patch(world.maintainer.headers, appSpec({ network: 'host' }))
    expect(hostNet.statusCode).toBe(403)
    expect(fieldsOf(hostNet.json())).toEqual([
      { path: 'body.appSpec.network', rule: 'host-network-not-granted' },
    ])
    const big = await patch(world.maintainer.headers, appSpec({ resources: { memoryMb: 100_000 } }))
    expect(big.statusCode).toBe(403)
    expect(fieldsOf(big.json())).toEqual([
      { path: 'body.appSpec.resources.memoryMb', rule: 'memory-over-limit' },
    ])
    expect(await world.snapshot()).toEqual(before)
    expect(
      (await patch(world.maintainer.headers, appSpec({ resources: { memoryMb: 512 } }))).statusCode,
    ).toBe(200)

    // An administrator's own choice is a grant, recorded in the audit log.
    const byAdmin = await patch(world.admin.headers, appSpec({ network: 'host' }))
    expect(byAdmin.statusCode).toBe(200)
    expect((await db.project.findUniqueOrThrow({ where: { id: world.project.id } })).allowHostNetwork).toBe(
      true,
    )
    const event = await db.auditEvent.findFirstOrThrow({
      where: { projectId: world.project.id, action: 'project.grants' },
      orderBy: { id: 'desc' },
    })
    expect(event.after).toMatchObject({ limits: { allowHostNetwork: true } })
  })

  test('an administrator grants; a grant in use cannot be withdrawn; unknown ids are 400s', async ({
    app,
    db,
  }) => {
    const world = await setUp(db, app)
    const put = (payload: object) =>
      app.inject({ method: 'PUT', url: '/api/projects/shop/grants', headers: world.admin.headers, payload })
    const limits = { maxReplicas: 4, maxMemoryMb: 512, allowHostNetwork: false }
    const registries = [{ registryId: world.registry.id, pathPrefix: 'team/shop' }]
    await app.inject({
      method: 'POST',
      url: '/api/projects/shop/environments',
      headers: world.maintainer.headers,
      payload: { name: 'prod', position: 1, replicas: 3, hostIds: [world.ours.id] },
    })
    const before = await world.snapshot()
    const unknown = await put({ hostIds: ['00000000-0000-4000-8000-000000000000'], registries, limits })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().error.details.fields).toEqual([
      { path: 'body.hostIds', message: 'no host with id 00000000-0000-4000-8000-000000000000' },
    ])
    const withdraw = await put({ hostIds: [], registries: [], limits: { ...limits, maxReplicas: 2 } })
    expect(withdraw.statusCode).toBe(409)
    expect(withdraw.json().error.code).toBe('CONFLICT')
    expect(withdraw.json().error.details.fields.map((f: { path: string }) => f.path)).toEqual([
      'body.hostIds',
      'body.registries',
      'body.limits.maxReplicas',
    ])
    expect(await world.snapshot()).toEqual(before)

    const widened = await put({ hostIds: [world.ours.id, world.theirs.id], registries, limits })
    expect(widened.statusCode).toBe(200)
    expect(widened.json()).toMatchObject({
      hosts: [{ name: 'ours' }, { name: 'theirs-prod' }],
      registries: [{ name: 'shared', pathPrefix: 'team/shop' }],
      limits,
    })
    const read = await app.inject({
      method: 'GET',
      url: '/api/projects/shop/grants',
      headers: world.maintainer.headers,
    })
    expect(read.json().hosts.map((h: { name: string }) => h.name)).toEqual(['ours', 'theirs-prod'])
  })

  test('a maintainer builds only in an agent group with a host granted to the project', async ({
    app,
    db,
  }) => {
    const world = await setUp(db, app)
    const theirBuild = await db.host.create({
      data: {
        name: 'their-build',
        endpoint: 'unix:///tmp/tb.sock',
        address: '192.0.2.3',
        agentGroup: 'theirs',
      },
    })
    await db.host.update({ where: { id: world.ours.id }, data: { agentGroup: 'mine' } })
    const patch = (headers: Record<string, string>, buildAgentGroup: string) =>
      app.inject({ method: 'PATCH', url: '/api/projects/shop', headers, payload: { buildAgentGroup } })
    const before = await world.snapshot()
    for (const group of ['theirs', 'nobody-builds-here']) {
      const refused = await patch(world.maintainer.headers, group)
      expect(refused.statusCode).toBe(403)
      expect(fieldsOf(refused.json())).toEqual([
        { path: 'body.buildAgentGroup', rule: 'build-group-not-granted' },
      ])
      expect(refused.json().error.message).toContain(`"${group}"`)
    }
    expect(await world.snapshot()).toEqual(before)
    expect((await patch(world.maintainer.headers, 'mine')).statusCode).toBe(200)

    // An administrator's choice is a grant, and a build group in use is not withdrawn.
    expect((await patch(world.admin.headers, 'theirs')).statusCode).toBe(200)
    const grants = await db.projectHostGrant.findMany({ where: { projectId: world.project.id } })
    expect(grants.map((g) => g.hostId).sort()).toEqual([world.ours.id, theirBuild.id].sort())
    const withdraw = await app.inject({
      method: 'PUT',
      url: '/api/projects/shop/grants',
      headers: world.admin.headers,
      payload: {
        hostIds: [world.ours.id],
        registries: [{ registryId: world.registry.id, pathPrefix: 'team/shop' }],
        limits: { maxReplicas: 4, maxMemoryMb: 512, allowHostNetwork: false },
      },
    })
    expect(withdraw.statusCode).toBe(409)
    expect(fieldsOf(withdraw.json())).toEqual([{ path: 'body.hostIds', rule: 'build-group-not-granted' }])
  })

  test('a repository on Slipway’s own machine (file://) is an administrator’s choice only', async ({
    app,
    db,
  }) => {
    const world = await setUp(db, app)
    const patch = (headers: Record<string, string>, payload: object) =>
      app.inject({ method: 'PATCH', url: '/api/projects/shop', headers, payload })
    const before = await world.snapshot()
    for (const gitUrl of ['file:///srv/slipway/other-project.git', 'file://localhost/srv/repo.git']) {
      const refused = await patch(world.maintainer.headers, { gitUrl })
      expect(refused.statusCode).toBe(403)
      expect(refused.json().error.details.fields).toEqual([
        { path: 'body.gitUrl', message: 'only an instance administrator may set a file:// URL' },
      ])
    }
    expect(await world.snapshot()).toEqual(before)
    const byAdmin = await patch(world.admin.headers, { gitUrl: 'file:///srv/slipway/shop.git' })
    expect(byAdmin.statusCode).toBe(200)
    // The maintainer may still save the project's settings with the URL the administrator set.
    const resaved = await patch(world.maintainer.headers, {
      gitUrl: 'file:///srv/slipway/shop.git',
      name: 'Shop 2',
    })
    expect(resaved.statusCode).toBe(200)
    expect(resaved.json().name).toBe('Shop 2')
  })

  test('maintainers are offered only what was granted; administrators everything', async ({ app, db }) => {
    const world = await setUp(db, app)
    const choices = async (headers: Record<string, string>) =>
      (
        await app.inject({ method: 'GET', url: '/api/projects/shop/infrastructure-choices', headers })
      ).json() as { hosts: Array<{ name: string }>; registries: Array<{ name: string }> }
    const offered = await choices(world.maintainer.headers)
    expect(offered.hosts.map((h) => h.name)).toEqual(['ours'])
    expect(offered.registries.map((r) => r.name)).toEqual(['shared'])
    const all = await choices(world.admin.headers)
    expect(all.hosts.map((h) => h.name)).toEqual(['ours', 'theirs-prod'])
    expect(all.registries.map((r) => r.name)).toEqual(['other', 'shared'])
  })
})
