import { AppError } from '@slipway/core'
import type { Project } from '@slipway/db'
import type { InstanceAction } from '@slipway/policy'
import {
  decideInstance,
  decideProject,
  type ProjectAction,
  type ProjectContext,
  type Role,
} from '@slipway/policy'
import type { FastifyRequest } from 'fastify'
import { type Actor, requireActor } from '../auth/actor.ts'
import type { AppDeps } from '../deps.ts'

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface ProjectAccess {
  actor: Actor
  project: Project
  role: Role | undefined
}

/** A project by id or slug; NOT_FOUND when it does not exist. */
async function findProject(deps: AppDeps, idOrSlug: string): Promise<Project> {
  const project = await deps.db.project.findUnique({
    where: uuidPattern.test(idOrSlug) ? { id: idOrSlug } : { slug: idOrSlug },
  })
  if (!project) throw new AppError('NOT_FOUND', `project ${idOrSlug} not found`)
  return project
}

/**
 * Loads a project and checks the caller may perform `action` on it. Non-members get
 * NOT_FOUND (a project's existence is not disclosed); members without the role get
 * FORBIDDEN with the reason.
 */
export async function requireProject(
  deps: AppDeps,
  request: FastifyRequest,
  idOrSlug: string,
  action: ProjectAction,
  context: ProjectContext = {},
): Promise<ProjectAccess> {
  const actor = requireActor(request)
  const project = await findProject(deps, idOrSlug)
  const membership = await deps.db.membership.findUnique({
    where: { userId_projectId: { userId: actor.user.id, projectId: project.id } },
  })
  if (!membership && !actor.user.isAdmin) throw new AppError('NOT_FOUND', `project ${idOrSlug} not found`)
  const role = membership?.role
  const decision = decideProject({ isAdmin: actor.user.isAdmin, role }, action, context)
  if (!decision.allowed) throw new AppError('FORBIDDEN', decision.reason, { details: { action } })
  return { actor, project, role }
}

export function requireInstance(request: FastifyRequest, action: InstanceAction): Actor {
  const actor = requireActor(request)
  const decision = decideInstance({ isAdmin: actor.user.isAdmin }, action)
  if (!decision.allowed) throw new AppError('FORBIDDEN', decision.reason, { details: { action } })
  return actor
}
