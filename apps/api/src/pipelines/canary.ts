import { CanaryCommandBody, type CanaryCommandRecord, CanaryState, Id, Pipeline } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { canaryCommandRefusal } from '@slipway/policy'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { pipelineInclude, pipelineView, viewContext } from './view.ts'

const Params = z.object({ id: Id, stageId: Id })

/**
 * A person promoting a canary past a step that waits for them, or aborting it at any step:
 * the command is recorded on the release (the deploy stage's worker reads it within a
 * second) and in the audit log.
 */
export function canaryRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    for (const action of ['promote', 'abort'] as const) {
      app.post(
        `/api/pipelines/:id/stages/:stageId/canary/${action}`,
        {
          schema: {
            tags: ['canary'],
            params: Params,
            body: CanaryCommandBody,
            response: { 200: Pipeline },
          },
        },
        async (request) => {
          const stage = await deps.db.stage.findFirst({
            where: { id: request.params.stageId, pipelineId: request.params.id, kind: 'deploy' },
            include: { environment: true, pipeline: { select: { projectId: true } } },
          })
          const environment = stage?.environment
          if (!stage || !environment) throw new AppError('NOT_FOUND', 'deploy stage not found')
          const { actor } = await requireProject(deps, request, stage.pipeline.projectId, 'canary.decide', {
            environmentProtected: environment.protected,
          })
          await deps.db.$transaction(async (tx) => {
            // The release row is locked so two people's commands are recorded one after the other.
            const [release] = await tx.$queryRaw<{ id: string; number: number }[]>`
              SELECT id, number FROM "Release"
              WHERE "pipelineId" = ${stage.pipelineId}::uuid AND "environmentId" = ${environment.id}::uuid
              ORDER BY number DESC LIMIT 1 FOR UPDATE`
            const row = release
              ? await tx.release.findUniqueOrThrow({ where: { id: release.id }, select: { canary: true } })
              : null
            const state = CanaryState.safeParse(row?.canary)
            if (!release || !state.success)
              throw new AppError('CONFLICT', `the deploy to ${environment.name} runs no canary`, {
                details: { stage: 'deploy', environment: environment.name },
              })
            const refusal = canaryCommandRefusal(state.data, action)
            if (refusal)
              throw new AppError('CONFLICT', refusal, {
                details: { phase: state.data.phase, step: state.data.step + 1 },
              })
            const command: CanaryCommandRecord = {
              action,
              by: actor.user.email,
              step: state.data.step,
              at: new Date(),
            }
            await tx.release.update({
              where: { id: release.id },
              data: { canaryCommand: { ...command, at: command.at.toISOString() } },
            })
            await audit(tx, request, {
              action: `canary.${action}`,
              targetType: 'release',
              targetId: release.id,
              projectId: stage.pipeline.projectId,
              after: {
                environment: environment.name,
                release: release.number,
                step: state.data.step + 1,
                weight: state.data.weight,
                comment: request.body.comment,
              },
            })
          })
          const pipeline = await deps.db.pipeline.findUniqueOrThrow({
            where: { id: stage.pipelineId },
            include: pipelineInclude,
          })
          return pipelineView(pipeline, await viewContext(deps.db, [pipeline]))
        },
      )
    }
  }
}
