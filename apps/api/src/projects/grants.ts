import { AppSpec, ProjectGrants as GrantsView, PutProjectGrantsBody } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { Prisma, Project } from '@slipway/db'
import {
  checkChoices,
  type GrantRule,
  type GrantViolation,
  type ProjectChoices,
  type ProjectGrants,
  widenGrants,
} from '@slipway/policy'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Actor } from '../auth/actor.ts'
import type { AppDeps } from '../deps.ts'
import { requireInstance, requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'

type Tx = Prisma.TransactionClient

/** What the project was granted, as @slipway/policy sees it. */
async function loadGrants(
  tx: Tx,
  project: Pick<Project, 'id' | 'maxReplicas' | 'maxMemoryMb' | 'allowHostNetwork'>,
): Promise<ProjectGrants> {
  const [hosts, registries] = await Promise.all([
    tx.projectHostGrant.findMany({ where: { projectId: project.id }, select: { hostId: true } }),
    tx.projectRegistryGrant.findMany({
      where: { projectId: project.id },
      select: { registryId: true, pathPrefix: true },
    }),
  ])
  return {
    hostIds: hosts.map((h) => h.hostId),
    registries,
    limits: {
      maxReplicas: project.maxReplicas,
      maxMemoryMb: project.maxMemoryMb,
      allowHostNetwork: project.allowHostNetwork,
    },
  }
}

/** Writes a project's grants (replacing them) in the caller's transaction. */
async function storeGrants(tx: Tx, projectId: string, grants: ProjectGrants): Promise<void> {
  await tx.projectHostGrant.deleteMany({ where: { projectId, hostId: { notIn: [...grants.hostIds] } } })
  await tx.projectHostGrant.createMany({
    data: grants.hostIds.map((hostId) => ({ projectId, hostId })),
    skipDuplicates: true,
  })
  await tx.projectRegistryGrant.deleteMany({ where: { projectId } })
  await tx.projectRegistryGrant.createMany({ data: grants.registries.map((g) => ({ projectId, ...g })) })
  await tx.project.update({ where: { id: projectId }, data: grants.limits })
}

function grantsSummary(grants: ProjectGrants) {
  return { hostIds: [...grants.hostIds].sort(), registries: grants.registries, limits: grants.limits }
}

/** A build agent group as a choice: its name and the hosts in it. */
export async function buildGroupChoice(
  tx: Tx,
  name: string,
): Promise<NonNullable<ProjectChoices['buildGroup']>> {
  const hosts = await tx.host.findMany({ where: { agentGroup: name }, select: { id: true } })
  return { name, hostIds: hosts.map((h) => h.id) }
}

const forbidden = (violations: GrantViolation[]) =>
  new AppError('FORBIDDEN', violations.map((v) => v.message).join('; '), {
    details: {
      reason: 'not-granted',
      fields: violations.map(({ path, message, rule }) => ({ path, message, rule })),
    },
  })

/**
 * Checks a write's choices against the project's grants. An instance administrator's choice is
 * a grant: the grants widen to it (audited as `project.grants`). Anyone else gets 403 with the
 * fields at fault, before anything is written.
 */
export async function requireGranted(
  tx: Tx,
  request: FastifyRequest,
  actor: Actor,
  project: Pick<Project, 'id' | 'maxReplicas' | 'maxMemoryMb' | 'allowHostNetwork'>,
  choices: ProjectChoices,
): Promise<void> {
  const grants = await loadGrants(tx, project)
  const violations = checkChoices(grants, choices)
  if (!violations.length) return
  if (!actor.user.isAdmin) throw forbidden(violations)
  const widened = widenGrants(grants, choices)
  // A build group with no host yet: nothing to grant, nothing to record.
  if (JSON.stringify(grantsSummary(widened)) === JSON.stringify(grantsSummary(grants))) return
  await storeGrants(tx, project.id, widened)
  await audit(tx, request, {
    action: 'project.grants',
    targetType: 'project',
    targetId: project.id,
    projectId: project.id,
    before: grantsSummary(grants),
    after: grantsSummary(widened),
  })
}

/** What the project uses today, as choices: a grant withdrawn must not leave any of it outside. */
async function currentUse(tx: Tx, project: Project): Promise<ProjectChoices> {
  const group = await buildGroupChoice(tx, project.buildAgentGroup)
  const environments = await tx.environment.findMany({
    where: { projectId: project.id },
    select: { replicas: true, hosts: { select: { hostId: true } } },
  })
  return {
    hostIds: environments.flatMap((e) => e.hosts.map((h) => h.hostId)),
    image: { registryId: project.registryId, repository: project.imageRepository },
    appSpec: AppSpec.parse(project.appSpec),
    replicas: Math.max(0, ...environments.map((e) => e.replicas)),
    // A group with no host yet has nothing to withdraw.
    ...(group.hostIds.length ? { buildGroup: group } : {}),
  }
}

async function grantsView(tx: Tx, projectId: string): Promise<GrantsView> {
  const project = await tx.project.findUniqueOrThrow({
    where: { id: projectId },
    include: {
      hostGrants: { include: { host: { select: { name: true } } } },
      registryGrants: { include: { registry: { select: { name: true, url: true } } } },
    },
  })
  return {
    hosts: project.hostGrants
      .map((g) => ({ id: g.hostId, name: g.host.name, grantedAt: g.createdAt }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    registries: project.registryGrants.map((g) => ({
      id: g.registryId,
      name: g.registry.name,
      url: g.registry.url,
      pathPrefix: g.pathPrefix,
      grantedAt: g.createdAt,
    })),
    limits: {
      maxReplicas: project.maxReplicas,
      maxMemoryMb: project.maxMemoryMb,
      allowHostNetwork: project.allowHostNetwork,
    },
  }
}

async function assertExist(tx: Tx, body: PutProjectGrantsBody): Promise<void> {
  const hostIds = [...new Set(body.hostIds)]
  const registryIds = [...new Set(body.registries.map((r) => r.registryId))]
  const [hosts, registries] = await Promise.all([
    tx.host.findMany({ where: { id: { in: hostIds } }, select: { id: true } }),
    tx.registry.findMany({ where: { id: { in: registryIds } }, select: { id: true } }),
  ])
  const fields = [
    ...hostIds
      .filter((id) => !hosts.some((h) => h.id === id))
      .map((id) => ({ path: 'body.hostIds', message: `no host with id ${id}` })),
    ...registryIds
      .filter((id) => !registries.some((r) => r.id === id))
      .map((id) => ({ path: 'body.registries', message: `no registry with id ${id}` })),
  ]
  if (registryIds.length !== body.registries.length)
    fields.push({ path: 'body.registries', message: 'a registry is granted once, with one path' })
  if (fields.length)
    throw new AppError('VALIDATION_FAILED', 'the request is not valid', { details: { fields } })
}

/** The field of a grants body that withdrew what a rule found still in use. */
const withdrawnField: Record<GrantRule, string> = {
  'host-not-granted': 'body.hostIds',
  'registry-not-granted': 'body.registries',
  'repository-outside-grant': 'body.registries',
  'replicas-over-limit': 'body.limits.maxReplicas',
  'memory-over-limit': 'body.limits.maxMemoryMb',
  'host-network-not-granted': 'body.limits.allowHostNetwork',
  'build-group-not-granted': 'body.hostIds',
}

const Params = z.object({ project: z.string().min(1).max(100) })

/** What an instance administrator granted a project: hosts, registries (with a path), limits. */
export function grantRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/projects/:project/grants',
      { schema: { tags: ['projects'], params: Params, response: { 200: GrantsView } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        return grantsView(deps.db, project.id)
      },
    )

    app.put(
      '/api/projects/:project/grants',
      {
        schema: {
          tags: ['projects'],
          description:
            'Instance administrators: the hosts, registries (each with the repository path the project’s images must live at or below) and limits of a project, replacing what it had. A grant still in use cannot be withdrawn (409 naming the use).',
          params: Params,
          body: PutProjectGrantsBody,
          response: { 200: GrantsView },
        },
      },
      async (request) => {
        requireInstance(request, 'grant.manage')
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        return deps.db.$transaction(async (tx) => {
          await assertExist(tx, request.body)
          const before = await loadGrants(tx, project)
          const after: ProjectGrants = {
            hostIds: [...new Set(request.body.hostIds)],
            registries: request.body.registries,
            limits: request.body.limits,
          }
          const stillUsed = checkChoices(after, await currentUse(tx, project))
          if (stillUsed.length)
            throw new AppError(
              'CONFLICT',
              `the project still uses what this change withdraws: ${stillUsed.map((v) => v.message).join('; ')}`,
              {
                details: {
                  fields: stillUsed.map(({ rule, message }) => ({
                    path: withdrawnField[rule],
                    rule,
                    message,
                  })),
                },
              },
            )
          await storeGrants(tx, project.id, after)
          await audit(tx, request, {
            action: 'project.grants',
            targetType: 'project',
            targetId: project.id,
            projectId: project.id,
            before: grantsSummary(before),
            after: grantsSummary(after),
          })
          return grantsView(tx, project.id)
        })
      },
    )
  }
}
