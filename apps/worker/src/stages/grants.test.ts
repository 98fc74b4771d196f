import { randomBytes } from 'node:crypto'
import type { Db as Client, Prisma } from '@slipway/db'
import { integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { assertDeployGranted } from './grants.ts'

type Db = Client

/** A project granted one host, a protected production on it, and people by role. */
async function setUp(db: Db, environment: Partial<Prisma.EnvironmentUncheckedCreateInput> = {}) {
  const project = await db.project.create({
    data: {
      slug: `p-${randomBytes(3).toString('hex')}`,
      name: 'Shop',
      gitUrl: 'file:///nonexistent.git',
      imageRepository: 'team/shop',
      appSpec: { containerPort: 8080, healthCheck: { type: 'tcp' } },
    },
  })
  const host = async (name: string) =>
    db.host.create({
      data: {
        name: `${name}-${randomBytes(2).toString('hex')}`,
        endpoint: 'unix:///none',
        address: '192.0.2.9',
      },
    })
  const ours = await host('ours')
  const theirs = await host('theirs')
  await db.projectHostGrant.create({ data: { projectId: project.id, hostId: ours.id } })
  const prod = await db.environment.create({
    data: { projectId: project.id, name: 'production', position: 0, protected: true, ...environment },
    include: { hosts: true },
  })
  await db.environmentHost.create({ data: { environmentId: prod.id, hostId: ours.id } })
  const person = async (role: 'developer' | 'maintainer' | 'tester') => {
    const user = await db.user.create({
      data: { email: `${role}-${randomBytes(3).toString('hex')}@example.com`, name: role, passwordHash: 'x' },
    })
    await db.membership.create({ data: { userId: user.id, projectId: project.id, role } })
    return user
  }
  const env = async () =>
    db.environment.findUniqueOrThrow({ where: { id: prod.id }, include: { hosts: true } })
  return { project, ours, theirs, prod, env, person }
}

async function pipeline(db: Db, projectId: string, trigger: string, actorUserId: string | null) {
  return db.pipeline.create({
    data: {
      projectId,
      number: Math.floor(Math.random() * 1e9),
      ref: 'main',
      commitSha: 'a'.repeat(40),
      trigger: trigger as never,
      actorUserId,
    },
  })
}

describe('the deploy re-checks grants and protection', () => {
  test('a host no longer granted, or replicas over the limit, stop the deploy', async ({ db }) => {
    const world = await setUp(db)
    const project = () => db.project.findUniqueOrThrow({ where: { id: world.project.id } })
    await expect(assertDeployGranted({ db }, await project(), await world.env())).resolves.toBeUndefined()
    await db.environmentHost.create({ data: { environmentId: world.prod.id, hostId: world.theirs.id } })
    await expect(assertDeployGranted({ db }, await project(), await world.env())).rejects.toThrow(
      /not deployed to production: host\(s\) .* are not granted/,
    )
    await db.environmentHost.deleteMany({ where: { hostId: world.theirs.id } })
    await db.environment.update({ where: { id: world.prod.id }, data: { replicas: 11 } })
    await expect(assertDeployGranted({ db }, await project(), await world.env())).rejects.toThrow(
      /11 replicas is over this project's limit of 10/,
    )
  })

  test('an operation by a developer and an unapproved GitLab pipeline never deploy to a protected environment', async ({
    db,
  }) => {
    const world = await setUp(db)
    const project = await db.project.findUniqueOrThrow({ where: { id: world.project.id } })
    const developer = await world.person('developer')
    const maintainer = await world.person('maintainer')
    const check = async (trigger: string, actor: string | null) =>
      assertDeployGranted({ db }, project, await world.env(), await pipeline(db, project.id, trigger, actor))

    await expect(check('scale', developer.id)).rejects.toThrow(/production, a protected environment/)
    await expect(check('rollback', maintainer.id)).resolves.toBeUndefined()
    await expect(check('gitlab-push', null)).rejects.toThrow(/no maintainer or admin approved it/)
    await expect(check('manual', maintainer.id)).resolves.toBeUndefined()

    // With a maintainer's approval on its approval stage, the GitLab pipeline deploys.
    const approved = await pipeline(db, project.id, 'gitlab-push', null)
    const stage = await db.stage.create({
      data: {
        pipelineId: approved.id,
        position: 0,
        kind: 'approval',
        environmentId: world.prod.id,
        status: 'succeeded',
      },
    })
    await db.approval.create({
      data: { stageId: stage.id, userId: maintainer.id, decision: 'approved', comment: 'ok' },
    })
    await expect(assertDeployGranted({ db }, project, await world.env(), approved)).resolves.toBeUndefined()
  })
})
