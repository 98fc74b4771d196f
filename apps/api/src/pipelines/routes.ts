import { CreatePipelineBody, Id, Pipeline, PipelineListQuery, page } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { Prisma } from '@slipway/db'
import { commitForRef } from '@slipway/git'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { projectGitUrl } from '../projects/git-url.ts'
import { pipelineInclude, pipelineView, viewContext } from './view.ts'

const Params = z.object({ project: z.string().min(1).max(100) })

export function pipelineRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/projects/:project/pipelines',
      {
        schema: {
          tags: ['pipelines'],
          params: Params,
          querystring: PipelineListQuery,
          response: { 200: page(Pipeline) },
        },
      },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        const { limit, cursor, status, ref, actor } = request.query
        const before = cursor === undefined ? undefined : Number(cursor)
        // Pipeline numbers are positive 32-bit integers.
        if (before !== undefined && !(Number.isInteger(before) && before >= 1 && before <= 2_147_483_647)) {
          throw new AppError('VALIDATION_FAILED', 'bad cursor', {
            details: { fields: [{ path: 'querystring.cursor', message: 'bad cursor' }] },
          })
        }
        const where: Prisma.PipelineWhereInput = {
          projectId: project.id,
          ...(status ? { status } : {}),
          ...(ref ? { ref } : {}),
          ...(actor ? { actorUserId: actor } : {}),
          ...(before !== undefined ? { number: { lt: before } } : {}),
        }
        const rows = await deps.db.pipeline.findMany({
          where,
          orderBy: { number: 'desc' },
          take: limit + 1,
          include: pipelineInclude,
        })
        const items = rows.slice(0, limit)
        const context = await viewContext(deps.db, items)
        return {
          items: items.map((row) => pipelineView(row, context)),
          nextCursor: rows.length > limit ? String(items.at(-1)?.number) : null,
        }
      },
    )

    app.get(
      '/api/pipelines/:id',
      { schema: { tags: ['pipelines'], params: z.object({ id: Id }), response: { 200: Pipeline } } },
      async (request) => {
        const row = await deps.db.pipeline.findUnique({
          where: { id: request.params.id },
          include: pipelineInclude,
        })
        if (!row) throw new AppError('NOT_FOUND', 'pipeline not found')
        await requireProject(deps, request, row.projectId, 'project.read')
        return pipelineView(row, await viewContext(deps.db, [row]))
      },
    )

    app.post(
      '/api/projects/:project/pipelines',
      {
        schema: {
          tags: ['pipelines'],
          params: Params,
          body: CreatePipelineBody,
          response: { 201: Pipeline },
        },
      },
      async (request, reply) => {
        const { project, actor } = await requireProject(
          deps,
          request,
          request.params.project,
          'pipeline.trigger',
        )
        const ref = request.body.ref ?? project.defaultBranch
        // A given SHA must be on the ref: never a feature branch's commit built as main.
        const commitSha = await commitForRef(projectGitUrl(deps.secrets, project), ref, request.body.sha, {
          env: deps.gitEnv,
          signal: AbortSignal.timeout(20_000),
        })
        const created = await deps.runs.createPipeline(
          {
            project,
            ref,
            commitSha,
            trigger: actor.via === 'token' ? 'api' : 'manual',
            actorUserId: actor.user.id,
          },
          (tx, pipeline) =>
            audit(tx, request, {
              action: 'pipeline.create',
              targetType: 'pipeline',
              targetId: pipeline.id,
              projectId: project.id,
              after: { number: pipeline.number, ref, commitSha },
            }),
        )
        const row = await deps.db.pipeline.findUniqueOrThrow({
          where: { id: created.id },
          include: pipelineInclude,
        })
        return reply.status(201).send(pipelineView(row, await viewContext(deps.db, [row])))
      },
    )
  }
}
