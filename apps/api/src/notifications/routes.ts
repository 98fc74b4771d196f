import {
  CreateNotificationHookBody,
  Id,
  NotificationDelivery,
  NotificationHook,
  UpdateNotificationHookBody,
} from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { type NotificationHook as HookRow, secretContext } from '@slipway/db'
import { withoutCredentials } from '@slipway/git'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'

const Params = z.object({ project: z.string().min(1).max(100) })
const HookParams = Params.extend({ id: Id })

function hookView(row: HookRow) {
  return {
    id: row.id,
    // New hooks cannot carry credentials in their URL; one stored before that never shows them.
    url: withoutCredentials(row.url),
    events: row.events,
    active: row.active,
    secretSet: true as const,
    createdAt: row.createdAt,
  }
}

/** Outgoing webhooks on pipeline events (JSON, HMAC-SHA256 signed, retried). */
export function notificationRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    const base = '/api/projects/:project/notification-hooks'

    app.get(
      base,
      { schema: { tags: ['notifications'], params: Params, response: { 200: z.array(NotificationHook) } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'webhook.manage')
        const rows = await deps.db.notificationHook.findMany({
          where: { projectId: project.id },
          orderBy: { createdAt: 'asc' },
        })
        return rows.map(hookView)
      },
    )

    app.post(
      base,
      {
        schema: {
          tags: ['notifications'],
          params: Params,
          body: CreateNotificationHookBody,
          response: { 201: NotificationHook },
        },
      },
      async (request, reply) => {
        const { project } = await requireProject(deps, request, request.params.project, 'webhook.manage')
        const { secret, ...fields } = request.body
        const row = await deps.db.$transaction(async (tx) => {
          const created = await tx.notificationHook.create({
            data: { ...fields, projectId: project.id, secretEnc: 'pending' },
          })
          const sealed = await tx.notificationHook.update({
            where: { id: created.id },
            data: {
              secretEnc: deps.secrets.encrypt(secret, secretContext.notificationHookSecret(created.id)),
            },
          })
          await audit(tx, request, {
            action: 'notification-hook.create',
            targetType: 'notification-hook',
            targetId: created.id,
            projectId: project.id,
            after: hookView(sealed),
          })
          return sealed
        })
        return reply.status(201).send(hookView(row))
      },
    )

    app.patch(
      `${base}/:id`,
      {
        schema: {
          tags: ['notifications'],
          params: HookParams,
          body: UpdateNotificationHookBody,
          response: { 200: NotificationHook },
        },
      },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'webhook.manage')
        const { secret, ...fields } = request.body
        return deps.db.$transaction(async (tx) => {
          const before = await tx.notificationHook.findFirst({
            where: { id: request.params.id, projectId: project.id },
          })
          if (!before) throw new AppError('NOT_FOUND', 'notification hook not found')
          const after = await tx.notificationHook.update({
            where: { id: before.id },
            data: {
              ...fields,
              ...(secret
                ? { secretEnc: deps.secrets.encrypt(secret, secretContext.notificationHookSecret(before.id)) }
                : {}),
            },
          })
          await audit(tx, request, {
            action: 'notification-hook.update',
            targetType: 'notification-hook',
            targetId: before.id,
            projectId: project.id,
            before: hookView(before),
            after: hookView(after),
          })
          return hookView(after)
        })
      },
    )

    app.delete(
      `${base}/:id`,
      { schema: { tags: ['notifications'], params: HookParams, response: { 204: z.null() } } },
      async (request, reply) => {
        const { project } = await requireProject(deps, request, request.params.project, 'webhook.manage')
        await deps.db.$transaction(async (tx) => {
          const before = await tx.notificationHook.findFirst({
            where: { id: request.params.id, projectId: project.id },
          })
          if (!before) throw new AppError('NOT_FOUND', 'notification hook not found')
          await tx.notificationHook.delete({ where: { id: before.id } })
          await audit(tx, request, {
            action: 'notification-hook.delete',
            targetType: 'notification-hook',
            targetId: before.id,
            projectId: project.id,
            before: hookView(before),
          })
        })
        return reply.status(204).send(null)
      },
    )

    app.get(
      `${base}/:id/deliveries`,
      {
        schema: {
          tags: ['notifications'],
          params: HookParams,
          response: { 200: z.array(NotificationDelivery) },
        },
      },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'webhook.manage')
        const hook = await deps.db.notificationHook.findFirst({
          where: { id: request.params.id, projectId: project.id },
        })
        if (!hook) throw new AppError('NOT_FOUND', 'notification hook not found')
        return deps.db.notificationDelivery.findMany({
          where: { hookId: hook.id },
          orderBy: { createdAt: 'desc' },
          take: 50,
        })
      },
    )
  }
}
