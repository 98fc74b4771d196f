import { ConfigSnapshot, ConfigVersionSummary, PatchConfigBody } from '@slipway/contracts'
import { secretContext } from '@slipway/db'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { actorLabel } from '../auth/actor.ts'
import type { AppDeps } from '../deps.ts'
import { findEnvironment } from '../environments/routes.ts'
import { requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { latestVersion, nextEntries, snapshotView } from './versions.ts'

const Params = z.object({ project: z.string().min(1).max(100), environment: z.string().min(1).max(100) })

/**
 * Per-environment configuration: plain variables and write-only secrets. Every change set
 * makes a new immutable version; releases record the version they ran with.
 */
export function configRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/projects/:project/environments/:environment/config',
      { schema: { tags: ['config'], params: Params, response: { 200: ConfigSnapshot } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'config.read')
        const env = await findEnvironment(deps.db, project.id, request.params.environment)
        const latest = await latestVersion(deps.db, env.id)
        return snapshotView(latest, latest?.entries ?? [])
      },
    )

    app.get(
      '/api/projects/:project/environments/:environment/config/versions',
      { schema: { tags: ['config'], params: Params, response: { 200: z.array(ConfigVersionSummary) } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'config.read')
        const env = await findEnvironment(deps.db, project.id, request.params.environment)
        const versions = await deps.db.configVersion.findMany({
          where: { environmentId: env.id },
          orderBy: { version: 'desc' },
          take: 100,
          include: { entries: { select: { key: true, secret: true }, orderBy: { key: 'asc' } } },
        })
        const authors = await deps.db.user.findMany({
          where: {
            id: { in: versions.map((v) => v.createdByUserId).filter((id): id is string => id !== null) },
          },
          select: { id: true, email: true },
        })
        return versions.map((v) => ({
          id: v.id,
          version: v.version,
          createdAt: v.createdAt,
          createdBy: authors.find((a) => a.id === v.createdByUserId)?.email ?? null,
          note: v.note,
          keys: v.entries,
        }))
      },
    )

    app.patch(
      '/api/projects/:project/environments/:environment/config',
      {
        schema: {
          tags: ['config'],
          params: Params,
          body: PatchConfigBody,
          response: { 200: ConfigSnapshot },
        },
      },
      async (request) => {
        const { project, actor } = await requireProject(deps, request, request.params.project, 'config.write')
        return deps.db.$transaction(async (tx) => {
          const env = await findEnvironment(tx, project.id, request.params.environment)
          // Versions of one environment are numbered one at a time.
          await tx.$executeRaw`SELECT id FROM "Environment" WHERE id = ${env.id}::uuid FOR UPDATE`
          const latest = await latestVersion(tx, env.id)
          const current = latest?.entries ?? []
          const { entries, changed } = nextEntries(current, request.body, (key, value) =>
            deps.secrets.encrypt(value, secretContext.configSecret(env.id, key)),
          )
          const created = await tx.configVersion.create({
            data: {
              environmentId: env.id,
              version: (latest?.version ?? 0) + 1,
              createdByUserId: actor.user.id,
              createdByTokenId: actor.tokenId ?? null,
              note: request.body.note ?? null,
              entries: { create: entries },
            },
          })
          const before = snapshotView(latest, current)
          const after = snapshotView(created, entries)
          await audit(tx, request, {
            action: 'config.update',
            targetType: 'environment',
            targetId: env.id,
            projectId: project.id,
            before: { version: before.version, variables: before.variables, secrets: before.secrets },
            after: {
              version: after.version,
              variables: after.variables,
              secrets: after.secrets,
              changed,
              by: actorLabel(actor),
            },
          })
          return after
        })
      },
    )
  }
}
