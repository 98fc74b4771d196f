import { Id, Member, PutMemberBody } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { userView } from '../users/view.ts'

const Params = z.object({ project: z.string().min(1).max(100) })
const MemberParams = Params.extend({ userId: Id })

/** Project members and their roles (project admins manage them). */
export function memberRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/projects/:project/members',
      { schema: { tags: ['members'], params: Params, response: { 200: z.array(Member) } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        const rows = await deps.db.membership.findMany({
          where: { projectId: project.id },
          include: { user: true },
          orderBy: { createdAt: 'asc' },
        })
        return rows.map((row) => ({ user: userView(row.user), role: row.role, createdAt: row.createdAt }))
      },
    )

    app.put(
      '/api/projects/:project/members/:userId',
      { schema: { tags: ['members'], params: MemberParams, body: PutMemberBody, response: { 200: Member } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'member.manage')
        return deps.db.$transaction(async (tx) => {
          const user = await tx.user.findUnique({ where: { id: request.params.userId } })
          if (!user) throw new AppError('NOT_FOUND', 'user not found')
          const key = { userId_projectId: { userId: user.id, projectId: project.id } }
          const before = await tx.membership.findUnique({ where: key })
          const row = await tx.membership.upsert({
            where: key,
            create: { userId: user.id, projectId: project.id, role: request.body.role },
            update: { role: request.body.role },
          })
          await audit(tx, request, {
            action: before ? 'member.update' : 'member.add',
            targetType: 'member',
            targetId: user.id,
            projectId: project.id,
            before: before ? { user: user.email, role: before.role } : undefined,
            after: { user: user.email, role: row.role },
          })
          return { user: userView(user), role: row.role, createdAt: row.createdAt }
        })
      },
    )

    app.delete(
      '/api/projects/:project/members/:userId',
      { schema: { tags: ['members'], params: MemberParams, response: { 204: z.null() } } },
      async (request, reply) => {
        const { project } = await requireProject(deps, request, request.params.project, 'member.manage')
        await deps.db.$transaction(async (tx) => {
          const key = { userId_projectId: { userId: request.params.userId, projectId: project.id } }
          const before = await tx.membership.findUnique({ where: key, include: { user: true } })
          if (!before) throw new AppError('NOT_FOUND', 'not a member of this project')
          await tx.membership.delete({ where: key })
          await audit(tx, request, {
            action: 'member.remove',
            targetType: 'member',
            targetId: request.params.userId,
            projectId: project.id,
            before: { user: before.user.email, role: before.role },
          })
        })
        return reply.status(204).send(null)
      },
    )
  }
}
