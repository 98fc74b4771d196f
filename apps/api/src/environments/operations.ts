import {
  ContainerLogs,
  EnvironmentInstances,
  Pipeline,
  Release,
  RollbackBody,
  ScaleBody,
  TrafficReport,
} from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import type { Prisma } from '@slipway/db'
import { discoverSite, labelKeys } from '@slipway/deploy'
import { DiscoveryRegistry } from '@slipway/gateway'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { pipelineInclude, pipelineView, viewContext } from '../pipelines/view.ts'
import { requireGranted } from '../projects/grants.ts'
import { findEnvironment } from './routes.ts'
import { swarmInstances, swarmTaskLogs } from './swarm.ts'

const Params = z.object({ project: z.string().min(1).max(100), environment: z.string().min(1).max(100) })

type ReleaseRow = Prisma.ReleaseGetPayload<{ include: { pipeline: true } }>

/**
 * An environment's releases and the operations on it: rollback to a kept release, scale,
 * redeploy. Operations are pipelines with one deploy stage (trigger rollback/scale/
 * redeploy): the same rolling path, logs, cancel and audit as any deploy, by digest.
 */
export function environmentOperationRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  const registry = new DiscoveryRegistry({ redis: deps.redis, prefix: deps.redisPrefix, logger: deps.logger })

  async function releaseViews(rows: ReleaseRow[]): Promise<Release[]> {
    const versions = await deps.db.configVersion.findMany({
      where: { id: { in: rows.map((r) => r.configVersionId).filter((id): id is string => id !== null) } },
      select: { id: true, version: true },
    })
    const users = await deps.db.user.findMany({
      where: { id: { in: rows.map((r) => r.actorUserId).filter((id): id is string => id !== null) } },
      select: { id: true, email: true },
    })
    return rows.map((row) => ({
      id: row.id,
      number: row.number,
      kind: row.kind,
      status: row.status,
      image: row.image,
      digest: row.digest,
      replicas: row.replicas,
      configVersion: versions.find((v) => v.id === row.configVersionId)?.version ?? null,
      pipeline: row.pipeline
        ? {
            id: row.pipeline.id,
            number: row.pipeline.number,
            commitSha: row.pipeline.commitSha,
            ref: row.pipeline.ref,
          }
        : null,
      actor: users.find((u) => u.id === row.actorUserId)?.email ?? null,
      error: row.error,
      createdAt: row.createdAt,
      finishedAt: row.finishedAt,
      traffic: trafficView(row),
    }))
  }

  /** The stored traffic report; one that no longer fits the contract is logged and left out. */
  function trafficView(row: ReleaseRow): TrafficReport | null {
    if (row.traffic === null) return null
    const parsed = TrafficReport.safeParse(row.traffic)
    if (parsed.success) return parsed.data
    deps.logger.warn(
      { releaseId: row.id, err: parsed.error },
      'stored traffic report does not fit the contract',
    )
    return null
  }

  async function operationResponse(pipelineId: string) {
    await deps.outbox.kick()
    const row = await deps.db.pipeline.findUniqueOrThrow({
      where: { id: pipelineId },
      include: pipelineInclude,
    })
    return pipelineView(row, await viewContext(deps.db, [row]))
  }

  return async (app) => {
    app.get(
      '/api/projects/:project/environments/:environment/releases',
      { schema: { tags: ['releases'], params: Params, response: { 200: z.array(Release) } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        const env = await findEnvironment(deps.db, project.id, request.params.environment)
        const rows = await deps.db.release.findMany({
          where: { environmentId: env.id },
          orderBy: { number: 'desc' },
          take: 100,
          include: { pipeline: true },
        })
        return releaseViews(rows)
      },
    )

    app.post(
      '/api/projects/:project/environments/:environment/rollback',
      { schema: { tags: ['releases'], params: Params, body: RollbackBody, response: { 201: Pipeline } } },
      async (request, reply) => {
        const found = await requireProject(deps, request, request.params.project, 'project.read')
        const env = await findEnvironment(deps.db, found.project.id, request.params.environment)
        const { project, actor } = await requireProject(deps, request, found.project.id, 'deploy', {
          environmentProtected: env.protected,
        })
        const { pipeline } = await deps.runs.startOperation(
          {
            project,
            environment: env,
            kind: 'rollback',
            actorUserId: actor.user.id,
            releaseNumber: request.body.releaseNumber,
          },
          (tx, { pipeline, source, live }) =>
            audit(tx, request, {
              action: 'environment.rollback',
              targetType: 'environment',
              targetId: env.id,
              projectId: project.id,
              after: {
                release: source?.number,
                image: source?.image,
                pipeline: pipeline?.number,
                from: live?.number ?? null,
              },
            }),
        )
        if (!pipeline) throw new AppError('INTERNAL', 'a rollback started no pipeline')
        return reply.status(201).send(await operationResponse(pipeline.id))
      },
    )

    for (const kind of ['scale', 'redeploy'] as const) {
      app.post(
        `/api/projects/:project/environments/:environment/${kind}`,
        {
          schema: {
            tags: ['releases'],
            params: Params,
            body: kind === 'scale' ? ScaleBody : z.object({}).strict(),
            response: { 201: Pipeline, 200: z.object({ replicas: z.number(), deployed: z.literal(false) }) },
          },
        },
        async (request, reply) => {
          const found = await requireProject(deps, request, request.params.project, 'project.read')
          const env = await findEnvironment(deps.db, found.project.id, request.params.environment)
          const { project, actor } = await requireProject(deps, request, found.project.id, 'deploy', {
            environmentProtected: env.protected,
          })
          const replicas =
            kind === 'scale' ? (request.body as unknown as z.infer<typeof ScaleBody>).replicas : env.replicas
          // Within the project's replica limit (an administrator's scale raises it: projects/grants.ts).
          if (kind === 'scale')
            await deps.db.$transaction((tx) => requireGranted(tx, request, actor, project, { replicas }))
          const { pipeline } = await deps.runs.startOperation(
            { project, environment: env, kind, actorUserId: actor.user.id, replicas },
            (tx, { pipeline, source }) =>
              audit(
                tx,
                request,
                pipeline && source
                  ? {
                      action: `environment.${kind}`,
                      targetType: 'environment',
                      targetId: env.id,
                      projectId: project.id,
                      after: {
                        release: source.number,
                        image: source.image,
                        pipeline: pipeline.number,
                        replicas,
                        before: env.replicas,
                      },
                    }
                  : {
                      action: 'environment.scale',
                      targetType: 'environment',
                      targetId: env.id,
                      projectId: project.id,
                      before: { replicas: env.replicas },
                      after: { replicas },
                    },
              ),
          )
          if (!pipeline) return reply.status(200).send({ replicas, deployed: false as const })
          return reply.status(201).send(await operationResponse(pipeline.id))
        },
      )
    }

    app.get(
      '/api/projects/:project/environments/:environment/instances',
      { schema: { tags: ['releases'], params: Params, response: { 200: EnvironmentInstances } } },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        const env = await deps.db.environment.findUniqueOrThrow({
          where: { projectId_name: { projectId: project.id, name: request.params.environment } },
          include: { hosts: { include: { host: true } }, releases: { select: { id: true, number: true } } },
        })
        if (env.target === 'swarm') {
          const discovery = await registry.list(project.slug, env.name).catch((error: unknown) => {
            request.log.warn({ err: error }, 'could not list the discovery registry')
            return []
          })
          return swarmInstances(deps, { project: project.slug, env }, discovery)
        }
        // Instances are reached at their host's address ('' for a host stored without one).
        const hosts = env.hosts.map(({ host }) => ({
          name: host.name,
          address: host.address,
          driver: deps.hosts.get(deps.hostRecord(host)),
        }))
        const addressOf = new Map(hosts.map((host) => [host.name, host.address]))
        const [inventories, discovery] = await Promise.all([
          discoverSite(hosts, project.slug, env.name, AbortSignal.timeout(8000), 5000),
          registry.list(project.slug, env.name).catch((error: unknown) => {
            // The hosts' inventories still show every running instance.
            request.log.warn({ err: error }, 'could not list the discovery registry')
            return []
          }),
        ])
        const numberOf = (id: string) => env.releases.find((r) => r.id === id)?.number ?? null
        const driverOf = new Map(hosts.map((host) => [host.name, host.driver]))
        const started = new Map(
          await Promise.all(
            inventories.flatMap((inventory) =>
              inventory.running.map(async (instance) => {
                const info = await driverOf
                  .get(instance.host)
                  ?.inspect(instance.containerId, { signal: AbortSignal.timeout(5000) })
                  .catch((error: unknown) => {
                    // Shown without its start time.
                    request.log.warn({ err: error, instance: instance.id }, 'could not inspect an instance')
                    return undefined
                  })
                return [instance.id, info?.startedAt ?? null] as const
              }),
            ),
          ),
        )
        const instances = inventories.flatMap((inventory) =>
          inventory.running.map((instance) => {
            const entry = discovery.find((d) => d.id === instance.id)
            return {
              startedAt: started.get(instance.id) ?? null,
              id: instance.id,
              host: instance.host,
              address: instance.address,
              port: instance.port,
              containerId: instance.containerId,
              state: 'running',
              release: { id: instance.release, number: numberOf(instance.release) },
              image: instance.image,
              inGateway: Boolean(entry),
              lastHeartbeatAt: entry ? new Date(entry.lastHeartbeatAt) : null,
            }
          }),
        )
        const broken = inventories.flatMap((inventory) =>
          inventory.broken.map((container) => ({
            id: container.labels[labelKeys.instance] ?? container.name,
            host: inventory.host,
            address: addressOf.get(inventory.host) ?? '',
            port: container.hostPort ?? null,
            containerId: container.id,
            state: container.state,
            release: {
              id: container.labels[labelKeys.release] ?? '',
              number: numberOf(container.labels[labelKeys.release] ?? ''),
            },
            image: container.image,
            inGateway: false,
            lastHeartbeatAt: null,
            startedAt: null,
          })),
        )
        return {
          instances: [...instances, ...broken],
          unreachable: inventories
            .filter((i) => i.error)
            .map((i) => ({ host: i.host, error: errorMessage(i.error) })),
          discovery,
        }
      },
    )

    app.get(
      '/api/projects/:project/environments/:environment/instances/:host/:containerId/logs',
      {
        schema: {
          tags: ['releases'],
          params: Params.extend({
            host: z.string().min(1).max(100),
            containerId: z.string().regex(/^[0-9a-f]{12,64}$/),
          }),
          querystring: z.object({ tail: z.coerce.number().int().min(1).max(5000).default(500) }),
          response: { 200: ContainerLogs },
        },
      },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'config.read')
        const env = await deps.db.environment.findUniqueOrThrow({
          where: { projectId_name: { projectId: project.id, name: request.params.environment } },
          include: { hosts: { include: { host: true } } },
        })
        if (env.target === 'swarm')
          return {
            lines: await swarmTaskLogs(
              deps,
              { project: project.slug, env },
              request.params.containerId,
              request.query.tail,
            ),
          }
        const host = env.hosts.find(({ host }) => host.name === request.params.host)?.host
        if (!host) throw new AppError('NOT_FOUND', `host ${request.params.host} is not in ${env.name}`)
        const driver = deps.hosts.get(deps.hostRecord(host))
        const info = await driver.inspect(request.params.containerId)
        if (
          !info ||
          info.labels[labelKeys.project] !== project.slug ||
          info.labels[labelKeys.environment] !== env.name
        ) {
          throw new AppError('NOT_FOUND', 'no such instance in this environment')
        }
        return { lines: await driver.logs(info.id, { tail: request.query.tail }) }
      },
    )

    app.get(
      '/api/discovery/:project/:environment',
      {
        schema: {
          tags: ['discovery'],
          params: Params,
          response: { 200: EnvironmentInstances.shape.discovery },
        },
      },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        await findEnvironment(deps.db, project.id, request.params.environment)
        return registry.list(project.slug, request.params.environment)
      },
    )
  }
}
