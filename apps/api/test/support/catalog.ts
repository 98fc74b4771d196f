import { randomBytes } from 'node:crypto'
import { hashPassword } from '../../src/auth/crypto.ts'
import { runCatalog } from './catalog-runs.ts'
import type { CaseContext, RouteCase } from './catalog-types.ts'
import { makeProject, makeUser } from './test-app.ts'
import { addMembers, suffix, unique, type Who } from './world.ts'

const currentPasswordHash = hashPassword('the current password')
const projectUrl = (ctx: CaseContext, rest = '') => `/api/projects/${ctx.world.project.slug}${rest}`
const environmentUrl = (ctx: CaseContext, rest = '') =>
  projectUrl(ctx, `/environments/${ctx.world.environment.name}${rest}`)
/** The person a self-service request acts for (anonymous requests act for the target). */
const selfId = (ctx: CaseContext, who: Who) => ctx.world.users[who]?.id ?? ctx.world.target.id

/**
 * A valid request for every mutating route, keyed `METHOD /path`. The permission matrix sends
 * each to every person; the fuzz test mangles them.
 */
export const catalog: Record<string, RouteCase | RouteCase[]> = {
  'POST /api/auth/logout': {
    rule: { kind: 'self' },
    audited: false,
    prepare: async () => ({ url: '/api/auth/logout' }),
  },
  'POST /api/auth/password': {
    rule: { kind: 'self' },
    prepare: async (ctx, who) => {
      await ctx.db.user.update({
        where: { id: selfId(ctx, who) },
        data: { passwordHash: await currentPasswordHash },
      })
      return {
        url: '/api/auth/password',
        body: { currentPassword: 'the current password', newPassword: 'a long enough password' },
      }
    },
  },
  'POST /api/tokens': {
    rule: { kind: 'self' },
    prepare: async () => ({ url: '/api/tokens', body: { name: `ci-${suffix()}`, expiresInDays: 30 } }),
  },
  'DELETE /api/tokens/:id': {
    rule: { kind: 'self' },
    prepare: async (ctx, who) => {
      const token = await ctx.db.apiToken.create({
        data: {
          userId: selfId(ctx, who),
          name: `old-${suffix()}`,
          prefix: 'slp_old',
          tokenHash: randomBytes(32).toString('hex'),
        },
      })
      return { url: `/api/tokens/${token.id}` }
    },
  },
  'POST /api/users': {
    rule: { kind: 'instance', action: 'user.manage' },
    prepare: async () => ({
      url: '/api/users',
      body: { email: `new-${suffix()}@example.com`, name: 'New person', password: 'a long enough password' },
    }),
  },
  'PATCH /api/users/:id': {
    rule: { kind: 'instance', action: 'user.manage' },
    prepare: async (ctx) => ({
      url: `/api/users/${ctx.world.target.id}`,
      body: { name: `Renamed ${unique()}` },
    }),
  },
  'POST /api/projects': {
    rule: { kind: 'instance', action: 'project.create' },
    prepare: async () => ({
      url: '/api/projects',
      body: {
        slug: `new-${suffix()}`,
        name: 'New project',
        gitUrl: 'https://gitlab.example.com/team/new.git',
        imageRepository: 'team/new',
        appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
      },
    }),
  },
  'PATCH /api/projects/:project': {
    rule: { kind: 'project', action: 'project.update' },
    prepare: async (ctx) => ({
      url: projectUrl(ctx),
      body: { name: `Renamed ${unique()}`, keepReleases: 3 },
    }),
  },
  'DELETE /api/projects/:project': {
    rule: { kind: 'project', action: 'project.delete' },
    prepare: async (ctx) => {
      const project = await makeProject(ctx.db)
      await addMembers(ctx.db, ctx.world, project.id)
      return { url: `/api/projects/${project.slug}` }
    },
  },
  'PUT /api/projects/:project/members/:userId': {
    rule: { kind: 'project', action: 'member.manage' },
    prepare: async (ctx) => ({
      url: projectUrl(ctx, `/members/${ctx.world.target.id}`),
      body: { role: 'developer' },
    }),
  },
  'DELETE /api/projects/:project/members/:userId': {
    rule: { kind: 'project', action: 'member.manage' },
    prepare: async (ctx) => {
      const member = await makeUser(ctx.db, { projectId: ctx.world.project.id, role: 'viewer' })
      return { url: projectUrl(ctx, `/members/${member.id}`) }
    },
  },
  'POST /api/projects/:project/environments': {
    rule: { kind: 'project', action: 'environment.manage' },
    prepare: async (ctx) => {
      const n = unique()
      return {
        url: projectUrl(ctx, '/environments'),
        body: { name: `env-${n}`, position: 10 + (n % 90), replicas: 2, hostIds: [ctx.world.host.id] },
      }
    },
  },
  'PUT /api/projects/:project/grants': {
    rule: { kind: 'instance', action: 'grant.manage' },
    prepare: async (ctx) => ({
      url: projectUrl(ctx, '/grants'),
      body: {
        hostIds: [ctx.world.host.id],
        registries: [],
        limits: { maxReplicas: 10 + (unique() % 5), maxMemoryMb: 2048, allowHostNetwork: false },
      },
    }),
  },
  'PATCH /api/projects/:project/environments/:environment': {
    rule: { kind: 'project', action: 'environment.manage' },
    prepare: async (ctx) => ({
      url: environmentUrl(ctx),
      body: { replicas: 1 + (unique() % 5), strategy: { maxUnavailable: 1 } },
    }),
  },
  'DELETE /api/projects/:project/environments/:environment': {
    rule: { kind: 'project', action: 'environment.manage' },
    prepare: async (ctx) => {
      const n = unique()
      const env = await ctx.db.environment.create({
        data: { projectId: ctx.world.project.id, name: `gone-${n}`, position: 10 + (n % 90) },
      })
      return { url: projectUrl(ctx, `/environments/${env.name}`) }
    },
  },
  'PATCH /api/projects/:project/environments/:environment/config': {
    rule: { kind: 'project', action: 'config.write' },
    prepare: async (ctx) => ({
      url: environmentUrl(ctx, '/config'),
      body: { variables: { LOG_LEVEL: `debug-${unique()}` }, secrets: { DB_PASSWORD: 'hunter2hunter2' } },
    }),
  },
  'POST /api/projects/:project/pipelines': {
    rule: { kind: 'project', action: 'pipeline.trigger' },
    prepare: async (ctx) => ({
      url: projectUrl(ctx, '/pipelines'),
      // The head of main in the world's repository (a SHA must be on the ref it names).
      body: { ref: 'main' },
    }),
  },
  'POST /api/hosts': {
    rule: { kind: 'instance', action: 'host.manage' },
    prepare: async () => ({
      url: '/api/hosts',
      body: {
        name: `host-${suffix()}`,
        endpoint: 'unix:///tmp/slipway-none.sock',
        address: '192.0.2.10',
        labels: { zone: 'a' },
      },
    }),
  },
  'POST /api/hosts/check': {
    rule: { kind: 'instance', action: 'host.manage' },
    // Nothing is stored: the answer says what was found (here: no daemon behind the socket).
    audited: false,
    prepare: async () => ({
      url: '/api/hosts/check',
      body: { name: `check-${suffix()}`, endpoint: 'unix:///tmp/slipway-none.sock', address: '192.0.2.10' },
    }),
  },
  'PATCH /api/hosts/:id': {
    rule: { kind: 'instance', action: 'host.manage' },
    prepare: async (ctx) => ({
      url: `/api/hosts/${ctx.world.host.id}`,
      body: { maxConcurrentBuilds: 1 + (unique() % 8) },
    }),
  },
  'DELETE /api/hosts/:id': {
    rule: { kind: 'instance', action: 'host.manage' },
    prepare: async (ctx) => {
      const host = await ctx.db.host.create({
        data: { name: `gone-${suffix()}`, endpoint: 'unix:///tmp/slipway-none.sock', address: '192.0.2.11' },
      })
      return { url: `/api/hosts/${host.id}` }
    },
  },
  'POST /api/registries': {
    rule: { kind: 'instance', action: 'registry.manage' },
    prepare: async () => ({
      url: '/api/registries',
      body: { name: `reg-${suffix()}`, url: '127.0.0.1:5999', username: 'ci', password: 'registry-pass' },
    }),
  },
  'PATCH /api/registries/:id': {
    rule: { kind: 'instance', action: 'registry.manage' },
    prepare: async (ctx) => ({
      url: `/api/registries/${ctx.world.registry.id}`,
      body: { username: `u${unique()}` },
    }),
  },
  'DELETE /api/registries/:id': {
    rule: { kind: 'instance', action: 'registry.manage' },
    prepare: async (ctx) => {
      const registry = await ctx.db.registry.create({
        data: { name: `gone-${suffix()}`, url: '127.0.0.1:5999' },
      })
      return { url: `/api/registries/${registry.id}` }
    },
  },
  ...runCatalog,
}

/** Every variant of a route's valid request. */
export const casesOf = (
  key: string,
  from: Record<string, RouteCase | RouteCase[]> = catalog,
): RouteCase[] => {
  const entry = from[key]
  return entry === undefined ? [] : Array.isArray(entry) ? entry : [entry]
}

/** Mutating routes with their own rules, tested on their own (permissions.test.ts). */
export const specialRoutes = {
  'POST /api/auth/setup': 'public: only while no user exists',
  'POST /api/auth/login': 'public: email and password',
  'POST /api/webhooks/gitlab/:projectId': "the project's secret token in X-Gitlab-Token",
} as const
