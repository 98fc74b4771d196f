import { randomBytes } from 'node:crypto'
import { type Role, roles } from '@slipway/policy'
import type { AppDeps } from '../../src/deps.ts'
import { makeProject, makeUser, type TestUser } from './test-app.ts'

/** Everyone a permission matrix asks: each project role, plus the people without one. */
export const everyone = [
  'anonymous',
  'non-member',
  'viewer',
  'tester',
  'developer',
  'maintainer',
  'admin',
  'instance-admin',
] as const
export type Who = (typeof everyone)[number]

export const isRole = (who: Who): who is Role => (roles as readonly string[]).includes(who)

type Db = AppDeps['db']

/**
 * A project with two environments (pre-release; production, protected and approved), each
 * with a live release and an earlier one, a host, a registry, and one person per `Who`.
 */
export interface World {
  project: { id: string; slug: string }
  environment: { id: string; name: string }
  production: { id: string; name: string }
  host: { id: string }
  registry: { id: string }
  /** A user with no membership anywhere: the subject of member and user changes. */
  target: TestUser
  /** Undefined for `anonymous`. */
  users: Record<Who, TestUser | undefined>
}

/** Adds every project-role person of the world to a project with their role. */
export async function addMembers(db: Db, world: Pick<World, 'users'>, projectId: string): Promise<void> {
  await db.membership.createMany({
    data: roles.map((role) => ({ userId: world.users[role]?.id ?? '', projectId, role })),
  })
}

let counter = 0
/** A number unique in this process, for names that must not collide. */
export const unique = (): number => ++counter

export const suffix = (): string => `${unique()}-${randomBytes(2).toString('hex')}`

export async function buildWorld(db: Db, options: { gitUrl?: string } = {}): Promise<World> {
  const project = await makeProject(db, options.gitUrl ? { gitUrl: options.gitUrl } : {})
  const environment = await db.environment.create({
    data: { projectId: project.id, name: 'pre-release', position: 0 },
  })
  const production = await db.environment.create({
    data: { projectId: project.id, name: 'production', position: 1, protected: true, requiredApprovals: 1 },
  })
  for (const env of [environment, production]) {
    for (const [number, status] of [
      [1, 'superseded'],
      [2, 'live'],
    ] as const) {
      const digest = `sha256:${randomBytes(32).toString('hex')}`
      await db.release.create({
        data: {
          environmentId: env.id,
          number,
          kind: 'deploy',
          image: `127.0.0.1:5999/test/app@${digest}`,
          digest,
          replicas: 1,
          status,
        },
      })
    }
  }
  const host = await db.host.create({
    data: { name: `h-${suffix()}`, endpoint: 'unix:///tmp/slipway-none.sock', address: '192.0.2.12' },
  })
  const registry = await db.registry.create({ data: { name: `r-${suffix()}`, url: '127.0.0.1:5999' } })
  await db.environmentHost.create({ data: { environmentId: environment.id, hostId: host.id } })
  // An administrator granted the project its host and registry (packages/policy grants.ts).
  await db.projectHostGrant.create({ data: { projectId: project.id, hostId: host.id } })
  await db.projectRegistryGrant.create({
    data: { projectId: project.id, registryId: registry.id, pathPrefix: project.imageRepository },
  })
  const users = {} as Record<Who, TestUser | undefined>
  users.anonymous = undefined
  users['non-member'] = await makeUser(db)
  users['instance-admin'] = await makeUser(db, { isAdmin: true })
  for (const role of roles) users[role] = await makeUser(db)
  const world = {
    project: { id: project.id, slug: project.slug },
    environment: { id: environment.id, name: environment.name },
    production: { id: production.id, name: production.name },
    host: { id: host.id },
    registry: { id: registry.id },
    target: await makeUser(db),
    users,
  }
  await addMembers(db, world, project.id)
  return world
}
