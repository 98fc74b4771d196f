import { ApprovalState, DecisionBody, Id, Pipeline } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { approvalExpired } from '@slipway/policy'
import { retryDecision, waitsForDeployer } from '@slipway/runs'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { pipelineInclude, pipelineView, viewContext } from './view.ts'

const Params = z.object({ id: Id })
const StageParams = Params.extend({ stageId: Id })

/** Cancel, retry, re-run and approvals: people acting on a pipeline. */
export function pipelineActionRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  async function load(id: string) {
    const row = await deps.db.pipeline.findUnique({ where: { id }, include: pipelineInclude })
    if (!row) throw new AppError('NOT_FOUND', 'pipeline not found')
    return row
  }
  async function view(id: string) {
    const row = await load(id)
    return pipelineView(row, await viewContext(deps.db, [row]))
  }

  return async (app) => {
    app.post(
      '/api/pipelines/:id/cancel',
      { schema: { tags: ['pipelines'], params: Params, response: { 200: Pipeline } } },
      async (request) => {
        const pipeline = await load(request.params.id)
        const { actor } = await requireProject(deps, request, pipeline.projectId, 'pipeline.cancel')
        await deps.runs.cancelPipeline(pipeline.id, `canceled by ${actor.user.email}`, (tx) =>
          audit(tx, request, {
            action: 'pipeline.cancel',
            targetType: 'pipeline',
            targetId: pipeline.id,
            projectId: pipeline.projectId,
            before: { status: pipeline.status },
          }),
        )
        return view(pipeline.id)
      },
    )

    app.post(
      '/api/pipelines/:id/stages/:stageId/retry',
      { schema: { tags: ['pipelines'], params: StageParams, response: { 200: Pipeline } } },
      async (request) => {
        const pipeline = await load(request.params.id)
        const { actor, role } = await requireProject(deps, request, pipeline.projectId, 'pipeline.retry')
        await deps.runs.retryStage(pipeline.id, request.params.stageId, async (tx) => {
          // A retry that sets a protected deploy going needs the right to deploy there.
          const decision = await retryDecision(tx, pipeline.id, { isAdmin: actor.user.isAdmin, role })
          if (!decision.allowed)
            throw new AppError('FORBIDDEN', decision.reason, { details: { action: 'deploy' } })
          await audit(tx, request, {
            action: 'stage.retry',
            targetType: 'stage',
            targetId: request.params.stageId,
            projectId: pipeline.projectId,
          })
        })
        return view(pipeline.id)
      },
    )

    app.post(
      '/api/pipelines/:id/rerun',
      { schema: { tags: ['pipelines'], params: Params, response: { 201: Pipeline } } },
      async (request, reply) => {
        const original = await load(request.params.id)
        const { actor, project } = await requireProject(deps, request, original.projectId, 'pipeline.trigger')
        const created = await deps.runs.createPipeline(
          {
            project,
            ref: original.ref,
            commitSha: original.commitSha,
            commitTitle: original.commitTitle,
            trigger: 'rerun',
            actorUserId: actor.user.id,
          },
          (tx, pipeline) =>
            audit(tx, request, {
              action: 'pipeline.rerun',
              targetType: 'pipeline',
              targetId: pipeline.id,
              projectId: project.id,
              after: { number: pipeline.number, rerunOf: original.number },
            }),
        )
        return reply.status(201).send(await view(created.id))
      },
    )

    app.get(
      '/api/pipelines/:id/stages/:stageId/approval',
      { schema: { tags: ['approvals'], params: StageParams, response: { 200: ApprovalState } } },
      async (request) => {
        const pipeline = await load(request.params.id)
        await requireProject(deps, request, pipeline.projectId, 'project.read')
        const stage = await deps.db.stage.findFirst({
          where: { id: request.params.stageId, pipelineId: pipeline.id, kind: 'approval' },
          include: { environment: true, approvals: { orderBy: { createdAt: 'asc' } } },
        })
        const environment = stage?.environment
        if (!stage || !environment) throw new AppError('NOT_FOUND', 'approval stage not found')
        const users = await deps.db.user.findMany({
          where: {
            id: { in: [...stage.approvals.map((a) => a.userId), pipeline.actorUserId ?? ''].filter(Boolean) },
          },
          select: { id: true, email: true },
        })
        const email = (id: string | null) => users.find((u) => u.id === id)?.email ?? null
        return {
          stageId: stage.id,
          environment: environment.name,
          status: stage.status,
          required: Math.max(1, environment.requiredApprovals),
          approvals: stage.approvals.map((a) => ({
            id: a.id,
            userId: a.userId,
            user: email(a.userId) ?? a.userId,
            decision: a.decision as 'approved' | 'rejected',
            comment: a.comment,
            digest: a.digest,
            createdAt: a.createdAt,
            expired: approvalExpired(a.createdAt, environment.approvalTtlMinutes),
          })),
          commitSha: pipeline.commitSha,
          ref: pipeline.ref,
          imageDigest: pipeline.imageDigest,
          allowSelfApproval: environment.allowSelfApproval,
          triggeredBy: email(pipeline.actorUserId),
          triggeredByUserId: pipeline.actorUserId,
          waitsForDeployer: await waitsForDeployer(deps.db, pipeline, environment),
        }
      },
    )

    for (const decision of ['approve', 'reject'] as const) {
      app.post(
        `/api/pipelines/:id/stages/:stageId/${decision}`,
        {
          schema: {
            tags: ['approvals'],
            params: StageParams,
            body: DecisionBody,
            response: { 200: Pipeline },
          },
        },
        async (request) => {
          const pipeline = await load(request.params.id)
          const { actor, role } = await requireProject(deps, request, pipeline.projectId, 'project.read')
          await deps.runs.decide(
            {
              pipelineId: pipeline.id,
              stageId: request.params.stageId,
              user: { id: actor.user.id, isAdmin: actor.user.isAdmin },
              role,
              decision: decision === 'approve' ? 'approved' : 'rejected',
              comment: request.body.comment,
            },
            (tx, result) =>
              audit(tx, request, {
                action: `approval.${decision}`,
                targetType: 'stage',
                targetId: request.params.stageId,
                projectId: pipeline.projectId,
                after: {
                  comment: request.body.comment,
                  digest: pipeline.imageDigest,
                  approvals: result.approvals,
                  required: result.required,
                },
              }),
          )
          return view(pipeline.id)
        },
      )
    }
  }
}
