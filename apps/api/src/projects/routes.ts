import {
  CreateProjectBody,
  isLocalGitUrl,
  Project,
  UpdatedProject,
  UpdateProjectBody,
} from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { type Prisma, type Project as ProjectRow, secretContext } from '@slipway/db'
import { splitCredentials } from '@slipway/git'
import { mustClearCredential } from '@slipway/policy'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { requireActor } from '../auth/actor.ts'
import type { AppDeps } from '../deps.ts'
import { requireInstance, requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { gitUrlColumns } from './git-url.ts'
import { buildGroupChoice, grantRoutes, requireGranted } from './grants.ts'
import { projectView } from './view.ts'

const ProjectParams = z.object({ project: z.string().min(1).max(100) })

/**
 * Encrypted columns for the write-only settings present in a create/update body, and the
 * stored credentials the change clears: the GitLab token goes when `gitlab.baseUrl` moves and
 * no token comes with it (it would otherwise be sent to wherever the URL now points), the git
 * URL's credentials when the URL changes without them (`gitUrlColumns`).
 */
function secretColumns(
  deps: AppDeps,
  projectId: string,
  body: Pick<UpdateProjectBody, 'webhookSecret' | 'gitlab' | 'buildSecrets' | 'gitUrl'>,
  current?: Pick<
    ProjectRow,
    'id' | 'buildSecrets' | 'gitlabBaseUrl' | 'gitlabTokenEnc' | 'gitUrl' | 'gitCredentialsEnc'
  >,
): { data: Prisma.ProjectUncheckedUpdateInput; cleared: string[] } {
  const data: Prisma.ProjectUncheckedUpdateInput = {}
  const cleared: string[] = []
  if (body.gitUrl !== undefined) {
    const git = gitUrlColumns(deps.secrets, projectId, body.gitUrl, current)
    Object.assign(data, git.data)
    cleared.push(...git.cleared)
  }
  const currentBuildSecrets = (current?.buildSecrets ?? {}) as Record<string, string>
  if (body.buildSecrets) {
    const sealed = { ...currentBuildSecrets }
    for (const [name, value] of Object.entries(body.buildSecrets)) {
      if (value === null) delete sealed[name]
      else sealed[name] = deps.secrets.encrypt(value, secretContext.projectBuildSecret(projectId, name))
    }
    data.buildSecrets = sealed
  }
  if (body.webhookSecret !== undefined) {
    data.webhookSecretEnc =
      body.webhookSecret === null
        ? null
        : deps.secrets.encrypt(body.webhookSecret, secretContext.projectWebhookSecret(projectId))
  }
  if (body.gitlab === null) {
    Object.assign(data, { gitlabBaseUrl: null, gitlabProject: null, gitlabTokenEnc: null })
  } else if (body.gitlab) {
    data.gitlabBaseUrl = body.gitlab.baseUrl
    data.gitlabProject = body.gitlab.project
    if (body.gitlab.token) {
      data.gitlabTokenEnc = deps.secrets.encrypt(
        body.gitlab.token,
        secretContext.projectGitlabToken(projectId),
      )
    } else if (
      mustClearCredential({
        destinationBefore: current?.gitlabBaseUrl ?? null,
        destinationAfter: body.gitlab.baseUrl,
        stored: Boolean(current?.gitlabTokenEnc),
        resent: false,
      })
    ) {
      data.gitlabTokenEnc = null
      cleared.push('gitlab.token')
    }
  }
  return { data, cleared }
}

/** A registry the project refers to must exist: a 400 on the field, not a constraint error. */
async function assertRegistry(
  tx: Prisma.TransactionClient,
  registryId: string | null | undefined,
): Promise<void> {
  if (!registryId) return
  if (await tx.registry.findUnique({ where: { id: registryId }, select: { id: true } })) return
  throw new AppError('VALIDATION_FAILED', 'unknown registry', {
    details: { fields: [{ path: 'body.registryId', message: `no registry with id ${registryId}` }] },
  })
}

export function projectRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    await app.register(grantRoutes(deps))

    app.get(
      '/api/projects',
      { schema: { tags: ['projects'], response: { 200: z.array(Project) } } },
      async (request) => {
        const actor = requireActor(request)
        const projects = await deps.db.project.findMany({
          where: actor.user.isAdmin ? {} : { memberships: { some: { userId: actor.user.id } } },
          orderBy: { slug: 'asc' },
        })
        return projects.map(projectView)
      },
    )

    app.post(
      '/api/projects',
      { schema: { tags: ['projects'], body: CreateProjectBody, response: { 201: Project } } },
      async (request, reply) => {
        const actor = requireInstance(request, 'project.create')
        const { webhookSecret, gitlab, buildSecrets, gitUrl, ...fields } = request.body
        const project = await deps.db.$transaction(async (tx) => {
          await assertRegistry(tx, fields.registryId)
          // Credentials in the URL are sealed with the new row's id, once it has one.
          const created = await tx.project.create({
            data: { ...fields, gitUrl: splitCredentials(gitUrl).url },
          })
          const withSecrets = await tx.project.update({
            where: { id: created.id },
            data: secretColumns(deps, created.id, { webhookSecret, gitlab, buildSecrets, gitUrl }).data,
          })
          await tx.membership.create({
            data: { userId: actor.user.id, projectId: created.id, role: 'admin' },
          })
          // The administrator's choices for the new project are its first grants.
          await requireGranted(tx, request, actor, created, {
            image: { registryId: created.registryId, repository: created.imageRepository },
            appSpec: fields.appSpec,
            buildGroup: await buildGroupChoice(tx, created.buildAgentGroup),
          })
          await audit(tx, request, {
            action: 'project.create',
            targetType: 'project',
            targetId: created.id,
            projectId: created.id,
            after: projectView(withSecrets),
          })
          return withSecrets
        })
        return reply.status(201).send(projectView(project))
      },
    )

    app.get(
      '/api/projects/:project',
      { schema: { tags: ['projects'], params: ProjectParams, response: { 200: Project } } },
      async (request) =>
        projectView((await requireProject(deps, request, request.params.project, 'project.read')).project),
    )

    app.patch(
      '/api/projects/:project',
      {
        schema: {
          tags: ['projects'],
          params: ProjectParams,
          body: UpdateProjectBody,
          response: { 200: UpdatedProject },
        },
      },
      async (request) => {
        const { project, actor } = await requireProject(
          deps,
          request,
          request.params.project,
          'project.update',
        )
        const { webhookSecret, gitlab, buildSecrets, gitUrl, ...fields } = request.body
        if (gitUrl !== undefined && gitUrl !== project.gitUrl && isLocalGitUrl(gitUrl) && !actor.user.isAdmin)
          throw new AppError(
            'FORBIDDEN',
            'a file:// repository is on Slipway’s own machine; only an instance administrator may set one',
            {
              details: {
                reason: 'local-repository',
                fields: [
                  { path: 'body.gitUrl', message: 'only an instance administrator may set a file:// URL' },
                ],
              },
            },
          )
        const secrets = secretColumns(
          deps,
          project.id,
          { webhookSecret, gitlab, buildSecrets, gitUrl },
          project,
        )
        const updated = await deps.db.$transaction(async (tx) => {
          await assertRegistry(tx, fields.registryId)
          await requireGranted(tx, request, actor, project, {
            ...(fields.registryId !== undefined || fields.imageRepository !== undefined
              ? {
                  image: {
                    registryId: fields.registryId === undefined ? project.registryId : fields.registryId,
                    repository: fields.imageRepository ?? project.imageRepository,
                  },
                }
              : {}),
            ...(fields.appSpec ? { appSpec: fields.appSpec } : {}),
            ...(fields.buildAgentGroup !== undefined && fields.buildAgentGroup !== project.buildAgentGroup
              ? { buildGroup: await buildGroupChoice(tx, fields.buildAgentGroup) }
              : {}),
          })
          const after = await tx.project.update({
            where: { id: project.id },
            data: { ...fields, ...secrets.data },
          })
          await audit(tx, request, {
            action: 'project.update',
            targetType: 'project',
            targetId: project.id,
            projectId: project.id,
            before: projectView(project),
            after: projectView(after),
          })
          return after
        })
        return { ...projectView(updated), cleared: secrets.cleared }
      },
    )

    app.delete(
      '/api/projects/:project',
      { schema: { tags: ['projects'], params: ProjectParams, response: { 204: z.null() } } },
      async (request, reply) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.delete')
        await deps.db.$transaction(async (tx) => {
          await tx.project.delete({ where: { id: project.id } })
          await audit(tx, request, {
            action: 'project.delete',
            targetType: 'project',
            targetId: project.id,
            projectId: project.id,
            before: projectView(project),
          })
        })
        return reply.status(204).send(null)
      },
    )
  }
}
