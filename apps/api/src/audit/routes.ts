import { AuditEvent, AuditQuery, page } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { AuditEvent as AuditRow, Prisma } from '@slipway/db'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { AppDeps } from '../deps.ts'
import { requireInstance, requireProject } from '../http/access.ts'

const maxBigint = 2n ** 63n - 1n

function auditView(row: AuditRow): AuditEvent {
  return {
    id: String(row.id),
    at: row.at,
    actor: row.actorLabel,
    actorUserId: row.actorUserId,
    actorTokenId: row.actorTokenId,
    action: row.action,
    targetType: row.targetType,
    targetId: row.targetId,
    projectId: row.projectId,
    before: row.before ?? null,
    after: row.after ?? null,
    requestId: row.requestId,
  }
}

/** The audit log, newest first, filtered. Project maintainers see their project's events. */
export function auditRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/audit',
      { schema: { tags: ['audit'], querystring: AuditQuery, response: { 200: page(AuditEvent) } } },
      async (request) => {
        const q = request.query
        if (q.projectId) await requireProject(deps, request, q.projectId, 'audit.read')
        else requireInstance(request, 'audit.read.all')
        // Audit ids are PostgreSQL bigints: a cursor beyond them names no event.
        if (q.cursor !== undefined && (!/^\d{1,19}$/.test(q.cursor) || BigInt(q.cursor) > maxBigint)) {
          throw new AppError('VALIDATION_FAILED', 'bad cursor', {
            details: { fields: [{ path: 'querystring.cursor', message: 'bad cursor' }] },
          })
        }
        const where: Prisma.AuditEventWhereInput = {
          ...(q.projectId ? { projectId: q.projectId } : {}),
          ...(q.actorUserId ? { actorUserId: q.actorUserId } : {}),
          ...(q.action ? { action: q.action } : {}),
          ...(q.targetType ? { targetType: q.targetType } : {}),
          ...(q.targetId ? { targetId: q.targetId } : {}),
          ...(q.since || q.until
            ? {
                at: {
                  ...(q.since ? { gte: new Date(q.since) } : {}),
                  ...(q.until ? { lt: new Date(q.until) } : {}),
                },
              }
            : {}),
          ...(q.cursor ? { id: { lt: BigInt(q.cursor) } } : {}),
        }
        const rows = await deps.db.auditEvent.findMany({ where, orderBy: { id: 'desc' }, take: q.limit + 1 })
        const items = rows.slice(0, q.limit)
        return {
          items: items.map(auditView),
          nextCursor: rows.length > q.limit ? String(items.at(-1)?.id) : null,
        }
      },
    )
  }
}
