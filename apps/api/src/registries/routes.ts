import { CreateRegistryBody, Id, Registry, UpdatedRegistry, UpdateRegistryBody } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { type Registry as RegistryRow, secretContext } from '@slipway/db'
import { mustClearCredential } from '@slipway/policy'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireInstance } from '../http/access.ts'
import { audit } from '../http/audit.ts'

function registryView(row: RegistryRow): Registry {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    username: row.username,
    passwordSet: row.passwordEnc !== null,
    createdAt: row.createdAt,
  }
}

const Params = z.object({ id: Id })

/** Image registries with their credentials (the password is write-only). */
export function registryRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  const sealed = (id: string, password: string | null | undefined) =>
    password === undefined
      ? {}
      : {
          passwordEnc:
            password === null ? null : deps.secrets.encrypt(password, secretContext.registryPassword(id)),
        }

  return async (app) => {
    app.get(
      '/api/registries',
      { schema: { tags: ['registries'], response: { 200: z.array(Registry) } } },
      async (request) => {
        requireInstance(request, 'registry.manage')
        return (await deps.db.registry.findMany({ orderBy: { name: 'asc' } })).map(registryView)
      },
    )

    app.post(
      '/api/registries',
      { schema: { tags: ['registries'], body: CreateRegistryBody, response: { 201: Registry } } },
      async (request, reply) => {
        requireInstance(request, 'registry.manage')
        const { password, ...fields } = request.body
        const row = await deps.db.$transaction(async (tx) => {
          const created = await tx.registry.create({ data: fields })
          const withPassword = await tx.registry.update({
            where: { id: created.id },
            data: sealed(created.id, password),
          })
          await audit(tx, request, {
            action: 'registry.create',
            targetType: 'registry',
            targetId: created.id,
            after: registryView(withPassword),
          })
          return withPassword
        })
        return reply.status(201).send(registryView(row))
      },
    )

    app.patch(
      '/api/registries/:id',
      {
        schema: {
          tags: ['registries'],
          params: Params,
          body: UpdateRegistryBody,
          response: { 200: UpdatedRegistry },
        },
      },
      async (request) => {
        requireInstance(request, 'registry.manage')
        const { password, ...fields } = request.body
        const cleared: string[] = []
        const row = await deps.db.$transaction(async (tx) => {
          const before = await tx.registry.findUnique({ where: { id: request.params.id } })
          if (!before) throw new AppError('NOT_FOUND', 'registry not found')
          // The password goes only to the registry it was given for.
          const clear = mustClearCredential({
            destinationBefore: before.url,
            destinationAfter: fields.url,
            stored: before.passwordEnc !== null,
            resent: password !== undefined,
          })
          if (clear) cleared.push('password')
          const after = await tx.registry.update({
            where: { id: before.id },
            data: { ...fields, ...sealed(before.id, clear ? null : password) },
          })
          await audit(tx, request, {
            action: 'registry.update',
            targetType: 'registry',
            targetId: before.id,
            before: registryView(before),
            after: registryView(after),
          })
          return after
        })
        return { ...registryView(row), cleared }
      },
    )

    app.delete(
      '/api/registries/:id',
      { schema: { tags: ['registries'], params: Params, response: { 204: z.null() } } },
      async (request, reply) => {
        requireInstance(request, 'registry.manage')
        await deps.db.$transaction(async (tx) => {
          const before = await tx.registry.findUnique({
            where: { id: request.params.id },
            include: { projects: { select: { slug: true } } },
          })
          if (!before) throw new AppError('NOT_FOUND', 'registry not found')
          if (before.projects.length) {
            throw new AppError(
              'CONFLICT',
              `registry ${before.name} is used by ${before.projects.map((p) => p.slug).join(', ')}`,
            )
          }
          await tx.registry.delete({ where: { id: before.id } })
          await audit(tx, request, {
            action: 'registry.delete',
            targetType: 'registry',
            targetId: before.id,
            before: registryView(before),
          })
        })
        return reply.status(204).send(null)
      },
    )
  }
}
