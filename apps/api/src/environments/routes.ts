import {
  CreateEnvironmentBody,
  type DeployStrategy,
  type DeployTargetKind,
  Environment,
  UpdateEnvironmentBody,
} from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { Prisma } from '@slipway/db'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { requireGranted } from '../projects/grants.ts'
import { environmentView, withHosts } from './view.ts'

const Params = z.object({ project: z.string().min(1).max(100) })
const EnvParams = Params.extend({ environment: z.string().min(1).max(100) })

async function assertHostsExist(tx: Prisma.TransactionClient, hostIds: string[]): Promise<void> {
  const unique = [...new Set(hostIds)]
  const found = await tx.host.findMany({ where: { id: { in: unique } }, select: { id: true } })
  const missing = unique.filter((id) => !found.some((host) => host.id === id))
  if (missing.length) {
    throw new AppError('VALIDATION_FAILED', 'unknown hosts', {
      details: { fields: [{ path: 'body.hostIds', message: `no host with id ${missing.join(', ')}` }] },
    })
  }
}

/** The database's name of a deploy target kind. */
function targetRow(target: DeployTargetKind): 'docker_hosts' | 'swarm' {
  return target === 'swarm' ? 'swarm' : 'docker_hosts'
}

/**
 * What a target kind allows: a Swarm environment has exactly its manager as host (or none
 * yet), and no canary strategy (Swarm rolls the service itself).
 */
function assertTargetFits(
  target: DeployTargetKind,
  hostIds: readonly string[],
  strategy: Pick<DeployStrategy, 'canary'>,
): void {
  const fields: { path: string; message: string }[] = []
  if (target === 'swarm' && new Set(hostIds).size > 1)
    fields.push({
      path: 'body.hostIds',
      message: 'a Swarm environment has one host, the Swarm manager (the nodes are found through it)',
    })
  if (target === 'swarm' && strategy.canary)
    fields.push({
      path: 'body.strategy.canary',
      message: 'canary steps run on docker-hosts environments; Swarm rolls its service itself',
    })
  if (fields.length)
    throw new AppError(
      'VALIDATION_FAILED',
      fields.length > 1 || fields[0]?.path === 'body.hostIds'
        ? 'a Swarm environment has one host: its manager'
        : 'a Swarm environment has no canary strategy',
      { details: { fields } },
    )
}

export async function findEnvironment(tx: Prisma.TransactionClient, projectId: string, name: string) {
  const env = await tx.environment.findUnique({
    where: { projectId_name: { projectId, name } },
    include: withHosts,
  })
  if (!env) throw new AppError('NOT_FOUND', `environment ${name} not found`)
  return env
}

/** A project's environments, their hosts and protection rules. */
export function environmentRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/projects/:project/environments',
      { schema: { tags: ['environments'], params: Params, response: { 200: z.array(Environment) } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        const rows = await deps.db.environment.findMany({
          where: { projectId: project.id },
          include: withHosts,
          orderBy: { position: 'asc' },
        })
        return rows.map(environmentView)
      },
    )

    app.get(
      '/api/projects/:project/environments/:environment',
      { schema: { tags: ['environments'], params: EnvParams, response: { 200: Environment } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        return environmentView(await findEnvironment(deps.db, project.id, request.params.environment))
      },
    )

    app.post(
      '/api/projects/:project/environments',
      {
        schema: {
          tags: ['environments'],
          params: Params,
          body: CreateEnvironmentBody,
          response: { 201: Environment },
        },
      },
      async (request, reply) => {
        const { project, actor } = await requireProject(
          deps,
          request,
          request.params.project,
          'environment.manage',
        )
        const { hostIds, target, ...fields } = request.body
        assertTargetFits(target, hostIds, fields.strategy)
        const env = await deps.db.$transaction(async (tx) => {
          await assertHostsExist(tx, hostIds)
          await requireGranted(tx, request, actor, project, { hostIds, replicas: fields.replicas })
          const created = await tx.environment.create({
            data: {
              ...fields,
              target: targetRow(target),
              projectId: project.id,
              hosts: { create: [...new Set(hostIds)].map((hostId) => ({ hostId })) },
            },
            include: withHosts,
          })
          await audit(tx, request, {
            action: 'environment.create',
            targetType: 'environment',
            targetId: created.id,
            projectId: project.id,
            after: environmentView(created),
          })
          return created
        })
        return reply.status(201).send(environmentView(env))
      },
    )

    app.patch(
      '/api/projects/:project/environments/:environment',
      {
        schema: {
          tags: ['environments'],
          params: EnvParams,
          body: UpdateEnvironmentBody,
          response: { 200: Environment },
        },
      },
      async (request) => {
        const { project, actor } = await requireProject(
          deps,
          request,
          request.params.project,
          'environment.manage',
        )
        const { hostIds, target, ...fields } = request.body
        const env = await deps.db.$transaction(async (tx) => {
          const before = await findEnvironment(tx, project.id, request.params.environment)
          const beforeTarget = environmentView(before).target
          assertTargetFits(
            target ?? beforeTarget,
            hostIds ?? before.hosts.map(({ host }) => host.id),
            fields.strategy ?? environmentView(before).strategy,
          )
          if (target && target !== beforeTarget && before.releases.length)
            throw new AppError(
              'PRECONDITION_FAILED',
              `environment ${before.name} has a live release on ${beforeTarget}: its target cannot change while it serves`,
              {
                details: {
                  fields: [{ path: 'body.target', message: 'cannot change while a release is live' }],
                },
              },
            )
          if (hostIds) await assertHostsExist(tx, hostIds)
          await requireGranted(tx, request, actor, project, {
            ...(hostIds ? { hostIds } : {}),
            ...(fields.replicas === undefined ? {} : { replicas: fields.replicas }),
          })
          if (hostIds) {
            await tx.environmentHost.deleteMany({ where: { environmentId: before.id } })
            await tx.environmentHost.createMany({
              data: [...new Set(hostIds)].map((hostId) => ({ environmentId: before.id, hostId })),
            })
          }
          const after = await tx.environment.update({
            where: { id: before.id },
            data: { ...fields, ...(target ? { target: targetRow(target) } : {}) },
            include: withHosts,
          })
          await audit(tx, request, {
            action: 'environment.update',
            targetType: 'environment',
            targetId: before.id,
            projectId: project.id,
            before: environmentView(before),
            after: environmentView(after),
          })
          return after
        })
        return environmentView(env)
      },
    )

    app.delete(
      '/api/projects/:project/environments/:environment',
      { schema: { tags: ['environments'], params: EnvParams, response: { 204: z.null() } } },
      async (request, reply) => {
        const { project } = await requireProject(deps, request, request.params.project, 'environment.manage')
        await deps.db.$transaction(async (tx) => {
          const before = await findEnvironment(tx, project.id, request.params.environment)
          const used = await tx.stage.count({ where: { environmentId: before.id } })
          if (used > 0) {
            throw new AppError(
              'CONFLICT',
              `environment ${before.name} has pipeline history (${used} stages); it cannot be deleted`,
            )
          }
          await tx.environment.delete({ where: { id: before.id } })
          await audit(tx, request, {
            action: 'environment.delete',
            targetType: 'environment',
            targetId: before.id,
            projectId: project.id,
            before: environmentView(before),
          })
        })
        return reply.status(204).send(null)
      },
    )
  }
}
