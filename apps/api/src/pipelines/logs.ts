import { Id, LogPage, LogQuery } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { Db } from '@slipway/db'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'

type Line = [number, number, string]

/** Stage statuses after which no more log lines come. */
export const terminalStageStatuses = new Set(['succeeded', 'failed', 'canceled', 'skipped'])

/** Text one page of stored lines holds at most (the first line always goes in). */
export const pageBytes = 2 * 1024 * 1024

/** Stored lines with seq > after, in order, at most `limit` and about `pageBytes` of text. */
export async function storedLines(db: Db, stageId: string, after: number, limit: number): Promise<Line[]> {
  const chunks = await db.stageLogChunk.findMany({
    where: { stageId, lastSeq: { gt: after } },
    orderBy: { firstSeq: 'asc' },
    take: Math.ceil(limit / 10) + 2,
  })
  const lines: Line[] = []
  let bytes = 0
  for (const chunk of chunks) {
    for (const line of chunk.lines as Line[]) {
      if (line[0] <= after) continue
      bytes += Buffer.byteLength(line[2], 'utf8')
      if (lines.length >= limit || (lines.length > 0 && bytes > pageBytes)) return lines
      lines.push(line)
    }
  }
  return lines
}

export function logRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  async function stageFor(request: FastifyRequest, stageId: string) {
    const stage = await deps.db.stage.findUnique({
      where: { id: stageId },
      include: { pipeline: { select: { projectId: true } } },
    })
    if (!stage) throw new AppError('NOT_FOUND', 'stage not found')
    await requireProject(deps, request, stage.pipeline.projectId, 'project.read')
    return stage
  }

  return async (app) => {
    app.get(
      '/api/stages/:id/logs',
      {
        schema: {
          tags: ['logs'],
          params: z.object({ id: Id }),
          querystring: LogQuery,
          response: { 200: LogPage },
        },
      },
      async (request) => {
        const stage = await stageFor(request, request.params.id)
        const lines = await storedLines(deps.db, stage.id, request.query.after, request.query.limit)
        const lastSeq = lines.at(-1)?.[0] ?? request.query.after
        const stored = await deps.db.stageLogChunk.aggregate({
          where: { stageId: stage.id },
          _max: { lastSeq: true },
        })
        return {
          lines,
          lastSeq,
          complete: terminalStageStatuses.has(stage.status) && lastSeq >= (stored._max.lastSeq ?? 0),
        }
      },
    )
  }
}
