import { randomBytes } from 'node:crypto'
import type { PipelineStatus, StageKind, StageStatus } from '@slipway/contracts'
import type { CaseContext, RouteCase } from './catalog-types.ts'
import { suffix, unique } from './world.ts'

interface StagePlan {
  kind: StageKind
  status: StageStatus
  environmentId?: string
}

/** A pipeline of the world's project in a given state, written directly. */
export async function makePipeline(
  ctx: CaseContext,
  status: PipelineStatus,
  stages: StagePlan[],
  actorUserId: string | null,
): Promise<{ id: string; stageIds: string[] }> {
  const last = await ctx.db.pipeline.findFirst({
    where: { projectId: ctx.world.project.id },
    orderBy: { number: 'desc' },
  })
  const pipeline = await ctx.db.pipeline.create({
    data: {
      projectId: ctx.world.project.id,
      number: (last?.number ?? 0) + 1,
      ref: 'main',
      commitSha: randomBytes(20).toString('hex'),
      trigger: 'manual',
      actorUserId,
      status,
      imageDigest: `127.0.0.1:5999/test/app@sha256:${randomBytes(32).toString('hex')}`,
      stages: {
        create: stages.map((stage, position) => ({
          position,
          kind: stage.kind,
          status: stage.status,
          environmentId: stage.environmentId ?? null,
        })),
      },
    },
    include: { stages: { orderBy: { position: 'asc' } } },
  })
  return { id: pipeline.id, stageIds: pipeline.stages.map((stage) => stage.id) }
}

/** A pipeline waiting at the production approval (stage 3), triggered by `actorUserId`. */
export function waitingForApproval(ctx: CaseContext, actorUserId: string) {
  const { environment, production } = ctx.world
  return makePipeline(
    ctx,
    'waiting',
    [
      { kind: 'build', status: 'succeeded' },
      { kind: 'push', status: 'succeeded' },
      { kind: 'deploy', status: 'succeeded', environmentId: environment.id },
      { kind: 'approval', status: 'waiting', environmentId: production.id },
      { kind: 'deploy', status: 'pending', environmentId: production.id },
    ],
    actorUserId,
  )
}

const approvalCase = (decision: 'approve' | 'reject', ownPipeline: boolean): RouteCase => ({
  label: ownPipeline ? 'on their own pipeline' : "on someone else's pipeline",
  rule: { kind: 'approval', ownPipeline },
  prepare: async (ctx, who) => {
    const self = ctx.world.users[who]?.id ?? ctx.world.target.id
    const pipeline = await waitingForApproval(ctx, ownPipeline ? self : ctx.world.target.id)
    return {
      url: `/api/pipelines/${pipeline.id}/stages/${pipeline.stageIds[3]}/${decision}`,
      body: { comment: `${decision}d after checking pre-release` },
    }
  },
})

/**
 * A pipeline whose deploy to `environmentId` runs a canary waiting for a person at its first
 * step (the release row as the worker writes it).
 */
async function canaryWaiting(ctx: CaseContext, environmentId: string) {
  const pipeline = await makePipeline(
    ctx,
    'running',
    [
      { kind: 'build', status: 'succeeded' },
      { kind: 'push', status: 'succeeded' },
      { kind: 'deploy', status: 'running', environmentId },
    ],
    ctx.world.target.id,
  )
  const last = await ctx.db.release.findFirst({ where: { environmentId }, orderBy: { number: 'desc' } })
  const figures = { requests: 120, errors: 0, p99Ms: 12 }
  await ctx.db.release.create({
    data: {
      environmentId,
      number: (last?.number ?? 0) + 1,
      pipelineId: pipeline.id,
      kind: 'deploy',
      image: '127.0.0.1:5999/test/app@sha256:0000',
      digest: 'sha256:0000',
      replicas: 2,
      status: 'deploying',
      canary: {
        phase: 'waiting',
        step: 0,
        weight: 5,
        weights: { newer: 1, older: 38 },
        plan: {
          steps: [{ weight: 5, holdSeconds: 60, holdRequests: 100, manual: true }],
          thresholds: {
            minRequests: 20,
            maxErrorRate: 0.01,
            maxErrorRateRatio: 2,
            maxP99Ms: null,
            maxP99Ratio: 2,
          },
        },
        steps: [
          {
            weight: 5,
            weights: { newer: 1, older: 38 },
            verdict: { decision: 'pass', reason: 'error rate 0.00%' },
            newer: figures,
            older: figures,
            elapsedMs: 60_000,
          },
        ],
        holding: null,
        reason: null,
        samples: [],
        command: null,
        updatedAt: new Date().toISOString(),
      },
    },
  })
  return pipeline
}

/** Promote or abort a canary, on the unprotected and on the protected environment. */
function canaryCases(action: 'promote' | 'abort'): RouteCase[] {
  return [false, true].map((isProtected) => ({
    label: isProtected ? 'protected environment' : 'unprotected environment',
    rule: { kind: 'project', action: 'canary.decide', context: { environmentProtected: isProtected } },
    prepare: async (ctx) => {
      const env = isProtected ? ctx.world.production : ctx.world.environment
      const pipeline = await canaryWaiting(ctx, env.id)
      return {
        url: `/api/pipelines/${pipeline.id}/stages/${pipeline.stageIds[2]}/canary/${action}`,
        body: { comment: `${action} after watching the canary's figures` },
      }
    },
  }))
}

/** Rollback, scale and redeploy, on the unprotected and on the protected environment. */
function operationCases(kind: 'rollback' | 'scale' | 'redeploy'): RouteCase[] {
  const body = () => (kind === 'scale' ? { replicas: 1 + (unique() % 4) } : {})
  return [false, true].map((isProtected) => ({
    label: isProtected ? 'protected environment' : 'unprotected environment',
    rule: { kind: 'project', action: 'deploy', context: { environmentProtected: isProtected } },
    prepare: async (ctx) => {
      const env = isProtected ? ctx.world.production : ctx.world.environment
      return { url: `/api/projects/${ctx.world.project.slug}/environments/${env.name}/${kind}`, body: body() }
    },
  }))
}

const hookUrl = (ctx: CaseContext, rest = '') =>
  `/api/projects/${ctx.world.project.slug}/notification-hooks${rest}`

export async function makeHook(ctx: CaseContext): Promise<string> {
  const hook = await ctx.db.notificationHook.create({
    data: { projectId: ctx.world.project.id, url: 'http://127.0.0.1:9/hook', secretEnc: 'unused' },
  })
  return hook.id
}

/** Pipeline actions, approvals, environment operations and notification hooks. */
export const runCatalog: Record<string, RouteCase | RouteCase[]> = {
  'POST /api/pipelines/:id/cancel': {
    rule: { kind: 'project', action: 'pipeline.cancel' },
    prepare: async (ctx) => {
      const pipeline = await makePipeline(
        ctx,
        'queued',
        [
          { kind: 'build', status: 'queued' },
          { kind: 'push', status: 'pending' },
        ],
        ctx.world.target.id,
      )
      return { url: `/api/pipelines/${pipeline.id}/cancel` }
    },
  },
  'POST /api/pipelines/:id/stages/:stageId/retry': {
    rule: { kind: 'project', action: 'pipeline.retry' },
    prepare: async (ctx) => {
      const pipeline = await makePipeline(
        ctx,
        'failed',
        [
          { kind: 'build', status: 'failed' },
          { kind: 'push', status: 'skipped' },
        ],
        ctx.world.target.id,
      )
      return { url: `/api/pipelines/${pipeline.id}/stages/${pipeline.stageIds[0]}/retry` }
    },
  },
  'POST /api/pipelines/:id/rerun': {
    rule: { kind: 'project', action: 'pipeline.trigger' },
    prepare: async (ctx) => {
      const pipeline = await makePipeline(ctx, 'failed', [{ kind: 'build', status: 'failed' }], null)
      return { url: `/api/pipelines/${pipeline.id}/rerun` }
    },
  },
  'POST /api/pipelines/:id/stages/:stageId/approve': [
    approvalCase('approve', false),
    approvalCase('approve', true),
  ],
  'POST /api/pipelines/:id/stages/:stageId/reject': [
    approvalCase('reject', false),
    approvalCase('reject', true),
  ],
  'POST /api/pipelines/:id/stages/:stageId/canary/promote': canaryCases('promote'),
  'POST /api/pipelines/:id/stages/:stageId/canary/abort': canaryCases('abort'),
  'POST /api/projects/:project/environments/:environment/rollback': operationCases('rollback'),
  'POST /api/projects/:project/environments/:environment/scale': operationCases('scale'),
  'POST /api/projects/:project/environments/:environment/redeploy': operationCases('redeploy'),
  'POST /api/projects/:project/notification-hooks': {
    rule: { kind: 'project', action: 'webhook.manage' },
    prepare: async (ctx) => ({
      url: hookUrl(ctx),
      body: {
        url: `http://127.0.0.1:9/hook-${suffix()}`,
        secret: 'hook-signing-secret',
        events: ['pipeline.failed'],
      },
    }),
  },
  'PATCH /api/projects/:project/notification-hooks/:id': {
    rule: { kind: 'project', action: 'webhook.manage' },
    prepare: async (ctx) => ({ url: hookUrl(ctx, `/${await makeHook(ctx)}`), body: { active: false } }),
  },
  'DELETE /api/projects/:project/notification-hooks/:id': {
    rule: { kind: 'project', action: 'webhook.manage' },
    prepare: async (ctx) => ({ url: hookUrl(ctx, `/${await makeHook(ctx)}`) }),
  },
}
