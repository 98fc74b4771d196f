import {
  addressRequiredMessage,
  CreateHostBody,
  canonicalAddress,
  endpointAddress,
  Host,
  HostCheckResult,
  hostAddressOf,
  Id,
  InfrastructureChoices,
  UpdatedHost,
  UpdateHostBody,
} from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { type Host as HostRow, type Prisma, secretContext } from '@slipway/db'
import { mustClearCredential } from '@slipway/policy'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireInstance, requireProject } from '../http/access.ts'
import { audit } from '../http/audit.ts'
import { checkHost } from './check.ts'

function hostView(host: HostRow): Host {
  return {
    id: host.id,
    name: host.name,
    endpoint: host.endpoint,
    address: host.address,
    labels: host.labels as Record<string, string>,
    agentGroup: host.agentGroup,
    maxConcurrentBuilds: host.maxConcurrentBuilds,
    tls: {
      caSet: host.tlsCaPem !== null,
      certSet: host.tlsCertPem !== null,
      keySet: host.tlsKeyEnc !== null,
    },
    status: host.status,
    lastSeenAt: host.lastSeenAt,
    lastError: host.lastError,
    dockerVersion: host.dockerVersion,
    createdAt: host.createdAt,
  }
}

type TlsInput = z.infer<typeof CreateHostBody>['tls']

/**
 * The TLS columns a body changes: null removes all three, an object sets the parts it names
 * and keeps the others (the key is write-only, so an edit must be able to leave it alone).
 */
function tlsColumns(
  deps: AppDeps,
  hostId: string,
  tls: TlsInput | undefined,
): Prisma.HostUncheckedUpdateInput {
  if (tls === undefined) return {}
  if (tls === null) return { tlsCaPem: null, tlsCertPem: null, tlsKeyEnc: null }
  return {
    ...(tls.ca === undefined ? {} : { tlsCaPem: tls.ca }),
    ...(tls.cert === undefined ? {} : { tlsCertPem: tls.cert }),
    ...(tls.key === undefined
      ? {}
      : { tlsKeyEnc: deps.secrets.encrypt(tls.key, secretContext.hostTlsKey(hostId)) }),
  }
}

/** A 400 naming `body.address`, in the documented validation shape. */
function addressRequired(): AppError {
  return new AppError('VALIDATION_FAILED', 'the request is not valid', {
    details: { fields: [{ path: 'body.address', message: addressRequiredMessage }] },
  })
}

/** The address a new host gets: the one given, else its endpoint's IP literal. */
function createAddress(body: { endpoint: string; address?: string }): string {
  const address = hostAddressOf(body)
  if (address === undefined) throw addressRequired()
  return address
}

/**
 * The address after an edit: the one given; else, when the endpoint changes and the address
 * was the old endpoint's own, the new endpoint's (required when it names none); else as it was.
 */
function updatedAddress(before: HostRow, body: { endpoint?: string; address?: string }): string | undefined {
  if (body.address !== undefined) return canonicalAddress(body.address)
  if (body.endpoint === undefined || body.endpoint === before.endpoint) return undefined
  if (before.address !== (endpointAddress(before.endpoint) ?? '')) return undefined
  const followed = endpointAddress(body.endpoint)
  if (followed === undefined) throw addressRequired()
  return followed
}

/**
 * The TLS parts an endpoint change clears: each stored part not sent again in the same edit
 * (the client certificate and key, and the CA that vouches for the daemon, belong to the
 * endpoint they were given for).
 */
function tlsCleared(before: HostRow, endpoint: string | undefined, tls: TlsInput | undefined): string[] {
  const parts = [
    ['tls.ca', before.tlsCaPem, tls?.ca],
    ['tls.cert', before.tlsCertPem, tls?.cert],
    ['tls.key', before.tlsKeyEnc, tls?.key],
  ] as const
  return parts
    .filter(([, stored, sent]) =>
      mustClearCredential({
        destinationBefore: before.endpoint,
        destinationAfter: endpoint,
        stored: stored !== null,
        resent: tls === null || sent !== undefined,
      }),
    )
    .map(([name]) => name)
}

const clearedColumns = {
  'tls.ca': { tlsCaPem: null },
  'tls.cert': { tlsCertPem: null },
  'tls.key': { tlsKeyEnc: null },
} as const

const Params = z.object({ id: Id })

/** Docker hosts, registered by instance administrators. */
export function hostRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/hosts',
      { schema: { tags: ['hosts'], response: { 200: z.array(Host) } } },
      async (request) => {
        requireInstance(request, 'host.manage')
        return (await deps.db.host.findMany({ orderBy: { name: 'asc' } })).map(hostView)
      },
    )

    app.get(
      '/api/projects/:project/infrastructure-choices',
      {
        schema: {
          tags: ['hosts'],
          params: z.object({ project: z.string().min(1).max(100) }),
          response: { 200: InfrastructureChoices },
        },
      },
      async (request) => {
        const { project, actor } = await requireProject(
          deps,
          request,
          request.params.project,
          'environment.manage',
        )
        // Maintainers choose among what the project was granted; an administrator's choice
        // of anything else grants it (projects/grants.ts).
        const granted = actor.user.isAdmin ? {} : { grants: { some: { projectId: project.id } } }
        const [hosts, registries] = await Promise.all([
          deps.db.host.findMany({
            where: granted,
            orderBy: { name: 'asc' },
            select: { id: true, name: true, status: true, agentGroup: true },
          }),
          deps.db.registry.findMany({
            where: granted,
            orderBy: { name: 'asc' },
            select: { id: true, name: true, url: true },
          }),
        ])
        return { hosts, registries }
      },
    )

    app.post(
      '/api/hosts',
      { schema: { tags: ['hosts'], body: CreateHostBody, response: { 201: Host } } },
      async (request, reply) => {
        requireInstance(request, 'host.manage')
        const { tls, ...fields } = request.body
        const address = createAddress(fields)
        const host = await deps.db.$transaction(async (tx) => {
          const created = await tx.host.create({ data: { ...fields, address } })
          const withTls = await tx.host.update({
            where: { id: created.id },
            data: tlsColumns(deps, created.id, tls),
          })
          await audit(tx, request, {
            action: 'host.create',
            targetType: 'host',
            targetId: created.id,
            after: hostView(withTls),
          })
          return withTls
        })
        return reply.status(201).send(hostView(host))
      },
    )

    app.post(
      '/api/hosts/check',
      {
        schema: {
          tags: ['hosts'],
          description:
            'Checks a host before it is added (same body as POST /api/hosts; nothing is stored): the daemon answers over the endpoint with the TLS material given, and reaches each registry with its credentials.',
          body: CreateHostBody,
          response: { 200: HostCheckResult },
        },
      },
      async (request) => {
        requireInstance(request, 'host.manage')
        return checkHost(deps, request.body, createAddress(request.body))
      },
    )

    app.patch(
      '/api/hosts/:id',
      { schema: { tags: ['hosts'], params: Params, body: UpdateHostBody, response: { 200: UpdatedHost } } },
      async (request) => {
        requireInstance(request, 'host.manage')
        const { tls, ...fields } = request.body
        let cleared: string[] = []
        const host = await deps.db.$transaction(async (tx) => {
          const before = await tx.host.findUnique({ where: { id: request.params.id } })
          if (!before) throw new AppError('NOT_FOUND', 'host not found')
          const address = updatedAddress(before, fields)
          cleared = tlsCleared(before, fields.endpoint, tls)
          const after = await tx.host.update({
            where: { id: before.id },
            data: {
              ...fields,
              ...(address === undefined ? {} : { address }),
              ...tlsColumns(deps, before.id, tls),
              ...Object.assign(
                {},
                ...cleared.map((part) => clearedColumns[part as keyof typeof clearedColumns]),
              ),
            },
          })
          await audit(tx, request, {
            action: 'host.update',
            targetType: 'host',
            targetId: before.id,
            before: hostView(before),
            after: hostView(after),
          })
          return after
        })
        return { ...hostView(host), cleared }
      },
    )

    app.delete(
      '/api/hosts/:id',
      { schema: { tags: ['hosts'], params: Params, response: { 204: z.null() } } },
      async (request, reply) => {
        requireInstance(request, 'host.manage')
        await deps.db.$transaction(async (tx) => {
          const before = await tx.host.findUnique({
            where: { id: request.params.id },
            include: { environments: true },
          })
          if (!before) throw new AppError('NOT_FOUND', 'host not found')
          if (before.environments.length) {
            throw new AppError(
              'CONFLICT',
              `host ${before.name} belongs to ${before.environments.length} environment(s); remove it there first`,
            )
          }
          await tx.host.delete({ where: { id: before.id } })
          await audit(tx, request, {
            action: 'host.delete',
            targetType: 'host',
            targetId: before.id,
            before: hostView(before),
          })
        })
        return reply.status(204).send(null)
      },
    )
  }
}
