import { CreateUserBody, Id, UpdateUserBody, User } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { endCredentials } from '../auth/credentials.ts'
import { hashPassword } from '../auth/crypto.ts'
import type { AppDeps } from '../deps.ts'
import { requireInstance } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { userView } from './view.ts'

/** Local accounts, managed by instance administrators. */
export function userRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/users',
      { schema: { tags: ['users'], response: { 200: z.array(User) } } },
      async (request) => {
        requireInstance(request, 'user.manage')
        return (await deps.db.user.findMany({ orderBy: { email: 'asc' } })).map(userView)
      },
    )

    app.post(
      '/api/users',
      { schema: { tags: ['users'], body: CreateUserBody, response: { 201: User } } },
      async (request, reply) => {
        requireInstance(request, 'user.manage')
        const { password, ...fields } = request.body
        const passwordHash = await hashPassword(password)
        const user = await deps.db.$transaction(async (tx) => {
          const created = await tx.user.create({ data: { ...fields, passwordHash } })
          await audit(tx, request, {
            action: 'user.create',
            targetType: 'user',
            targetId: created.id,
            after: userView(created),
          })
          return created
        })
        return reply.status(201).send(userView(user))
      },
    )

    app.patch(
      '/api/users/:id',
      {
        schema: {
          tags: ['users'],
          params: z.object({ id: Id }),
          body: UpdateUserBody,
          response: { 200: User },
        },
      },
      async (request) => {
        const actor = requireInstance(request, 'user.manage')
        const { password, disabled, ...fields } = request.body
        if (request.params.id === actor.user.id && (disabled === true || fields.isAdmin === false)) {
          throw new AppError('CONFLICT', 'you cannot disable yourself or remove your own administrator right')
        }
        const passwordHash = password ? await hashPassword(password) : undefined
        const updated = await deps.db.$transaction(async (tx) => {
          const before = await tx.user.findUnique({ where: { id: request.params.id } })
          if (!before) throw new AppError('NOT_FOUND', 'user not found')
          const after = await tx.user.update({
            where: { id: before.id },
            data: {
              ...fields,
              ...(passwordHash ? { passwordHash } : {}),
              ...(disabled === undefined
                ? {}
                : { disabledAt: disabled ? (before.disabledAt ?? new Date()) : null }),
            },
          })
          if (disabled) await tx.session.deleteMany({ where: { userId: before.id } })
          // A new password ends everything signed in with the old one (but the admin's own
          // session, when they set their own).
          if (passwordHash) await endCredentials(tx, before.id, { keepSessionId: actor.sessionId })
          await audit(tx, request, {
            action: password ? 'user.update+password' : 'user.update',
            targetType: 'user',
            targetId: before.id,
            before: userView(before),
            after: userView(after),
          })
          return after
        })
        return userView(updated)
      },
    )
  }
}
