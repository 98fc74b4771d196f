import { makeHook, makePipeline, waitingForApproval } from './catalog-runs.ts'
import type { CaseContext, RouteCase } from './catalog-types.ts'

const projectUrl = (ctx: CaseContext, rest = '') => `/api/projects/${ctx.world.project.slug}${rest}`
const environmentUrl = (ctx: CaseContext, rest = '') =>
  projectUrl(ctx, `/environments/${ctx.world.environment.name}${rest}`)

const read = (rule: RouteCase['rule'], url: (ctx: CaseContext) => string | Promise<string>): RouteCase => ({
  rule,
  audited: false,
  prepare: async (ctx) => ({ url: await url(ctx) }),
})
const projectRead = (url: (ctx: CaseContext) => string | Promise<string>) =>
  read({ kind: 'project', action: 'project.read' }, url)

/** A build stage of the world's project, for the log routes. */
async function buildStage(ctx: CaseContext): Promise<string> {
  const pipeline = await makePipeline(ctx, 'failed', [{ kind: 'build', status: 'failed' }], null)
  return pipeline.stageIds[0] ?? ''
}

/**
 * A request naming existing things for every read route, keyed `GET /path`, with who may
 * read it. The read matrix sends each to every person; the dead-credentials test to every
 * ended session and token.
 */
export const readCatalog: Record<string, RouteCase | RouteCase[]> = {
  'GET /api/auth/me': read({ kind: 'self' }, () => '/api/auth/me'),
  'GET /api/projects': read({ kind: 'self' }, () => '/api/projects'),
  'GET /api/tokens': read({ kind: 'self' }, () => '/api/tokens'),
  'GET /api/users': read({ kind: 'instance', action: 'user.manage' }, () => '/api/users'),
  'GET /api/hosts': read({ kind: 'instance', action: 'host.manage' }, () => '/api/hosts'),
  'GET /api/registries': read({ kind: 'instance', action: 'registry.manage' }, () => '/api/registries'),
  'GET /api/audit': [
    { ...read({ kind: 'instance', action: 'audit.read.all' }, () => '/api/audit'), label: 'all projects' },
    {
      ...read(
        { kind: 'project', action: 'audit.read' },
        (ctx) => `/api/audit?projectId=${ctx.world.project.id}`,
      ),
      label: 'one project',
    },
  ],
  'GET /api/projects/:project': projectRead((ctx) => projectUrl(ctx)),
  'GET /api/projects/:project/members': projectRead((ctx) => projectUrl(ctx, '/members')),
  'GET /api/projects/:project/grants': projectRead((ctx) => projectUrl(ctx, '/grants')),
  'GET /api/projects/:project/infrastructure-choices': read(
    { kind: 'project', action: 'environment.manage' },
    (ctx) => projectUrl(ctx, '/infrastructure-choices'),
  ),
  'GET /api/projects/:project/pipelines': projectRead((ctx) => projectUrl(ctx, '/pipelines')),
  'GET /api/projects/:project/events': projectRead((ctx) => projectUrl(ctx, '/events')),
  'GET /api/projects/:project/webhook-deliveries': read(
    { kind: 'project', action: 'webhook.manage' },
    (ctx) => projectUrl(ctx, '/webhook-deliveries'),
  ),
  'GET /api/projects/:project/notification-hooks': read(
    { kind: 'project', action: 'webhook.manage' },
    (ctx) => projectUrl(ctx, '/notification-hooks'),
  ),
  'GET /api/projects/:project/notification-hooks/:id/deliveries': read(
    { kind: 'project', action: 'webhook.manage' },
    async (ctx) => projectUrl(ctx, `/notification-hooks/${await makeHook(ctx)}/deliveries`),
  ),
  'GET /api/projects/:project/environments': projectRead((ctx) => projectUrl(ctx, '/environments')),
  'GET /api/projects/:project/environments/:environment': projectRead((ctx) => environmentUrl(ctx)),
  'GET /api/projects/:project/environments/:environment/releases': projectRead((ctx) =>
    environmentUrl(ctx, '/releases'),
  ),
  'GET /api/projects/:project/environments/:environment/instances': projectRead((ctx) =>
    environmentUrl(ctx, '/instances'),
  ),
  'GET /api/projects/:project/environments/:environment/config': read(
    { kind: 'project', action: 'config.read' },
    (ctx) => environmentUrl(ctx, '/config'),
  ),
  'GET /api/projects/:project/environments/:environment/config/versions': read(
    { kind: 'project', action: 'config.read' },
    (ctx) => environmentUrl(ctx, '/config/versions'),
  ),
  'GET /api/projects/:project/environments/:environment/instances/:host/:containerId/logs': {
    ...read({ kind: 'project', action: 'config.read' }, async (ctx) => {
      const host = await ctx.db.host.findUniqueOrThrow({ where: { id: ctx.world.host.id } })
      return environmentUrl(ctx, `/instances/${host.name}/${'ab'.repeat(32)}/logs`)
    }),
    allowedCode: 'HOST_UNREACHABLE',
  },
  'GET /api/discovery/:project/:environment': projectRead(
    (ctx) => `/api/discovery/${ctx.world.project.slug}/${ctx.world.environment.name}`,
  ),
  'GET /api/pipelines/:id': projectRead(
    async (ctx) => `/api/pipelines/${(await makePipeline(ctx, 'failed', [], null)).id}`,
  ),
  'GET /api/pipelines/:id/stages/:stageId/approval': projectRead(async (ctx) => {
    const pipeline = await waitingForApproval(ctx, ctx.world.target.id)
    return `/api/pipelines/${pipeline.id}/stages/${pipeline.stageIds[3]}/approval`
  }),
  'GET /api/stages/:id/logs': projectRead(async (ctx) => `/api/stages/${await buildStage(ctx)}/logs`),
  'GET /api/stages/:id/logs/live': projectRead(
    async (ctx) => `/api/stages/${await buildStage(ctx)}/logs/live`,
  ),
}

/** Read routes anyone may call, signed in or not. */
export const publicReads = new Set([
  'GET /api/auth/status',
  'GET /healthz',
  'GET /readyz',
  'GET /api/docs',
  'GET /api/docs/',
  'GET /api/docs/*',
  'GET /api/docs/json',
  'GET /api/docs/static/index.html',
  'GET /api/docs/static/swagger-initializer.js',
  'GET /api/docs/yaml',
])
