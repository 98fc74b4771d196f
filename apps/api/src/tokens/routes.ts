import { ApiToken, CreatedToken, CreateTokenBody, Id } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { ApiToken as ApiTokenRow } from '@slipway/db'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { type Actor, requireActor } from '../auth/actor.ts'
import { randomToken, sha256 } from '../auth/crypto.ts'
import type { AppDeps } from '../deps.ts'
import { audit } from '../http/audit.ts'

const tokenPrefix = 'slp_'

function tokenView(row: ApiTokenRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    lastUsedAt: row.lastUsedAt,
    createdAt: row.createdAt,
  }
}

/**
 * When a new token expires. A token may mint tokens, none that outlives it: without
 * `expiresInDays` the new one ends with the minting token; a later end is refused.
 */
async function mintedTokenExpiry(
  deps: AppDeps,
  actor: Actor,
  expiresInDays: number | undefined,
): Promise<Date | null> {
  const wanted = expiresInDays ? new Date(Date.now() + expiresInDays * 86_400_000) : null
  if (actor.via !== 'token' || !actor.tokenId) return wanted
  const minting = await deps.db.apiToken.findUniqueOrThrow({ where: { id: actor.tokenId } })
  if (!minting.expiresAt) return wanted
  if (!wanted) return minting.expiresAt
  if (wanted > minting.expiresAt) {
    throw new AppError('VALIDATION_FAILED', 'a token cannot create a token that outlives it', {
      details: {
        fields: [
          {
            path: 'body.expiresInDays',
            message: `the token making this request expires at ${minting.expiresAt.toISOString()}`,
          },
        ],
      },
    })
  }
  return wanted
}

/** Personal API tokens: listed, created (shown once), revoked. Each person manages their own. */
export function tokenRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/tokens',
      { schema: { tags: ['tokens'], response: { 200: z.array(ApiToken) } } },
      async (request) => {
        const actor = requireActor(request)
        const rows = await deps.db.apiToken.findMany({
          where: { userId: actor.user.id },
          orderBy: { createdAt: 'desc' },
        })
        return rows.map(tokenView)
      },
    )

    app.post(
      '/api/tokens',
      { schema: { tags: ['tokens'], body: CreateTokenBody, response: { 201: CreatedToken } } },
      async (request, reply) => {
        const actor = requireActor(request)
        const expiresAt = await mintedTokenExpiry(deps, actor, request.body.expiresInDays)
        const token = randomToken(tokenPrefix)
        const { name } = request.body
        const row = await deps.db.$transaction(async (tx) => {
          const created = await tx.apiToken.create({
            data: {
              userId: actor.user.id,
              name,
              prefix: token.slice(0, tokenPrefix.length + 6),
              tokenHash: sha256(token),
              expiresAt,
            },
          })
          await audit(tx, request, {
            action: 'token.create',
            targetType: 'token',
            targetId: created.id,
            after: tokenView(created),
          })
          return created
        })
        return reply.status(201).send({ ...tokenView(row), token })
      },
    )

    app.delete(
      '/api/tokens/:id',
      { schema: { tags: ['tokens'], params: z.object({ id: Id }), response: { 200: ApiToken } } },
      async (request) => {
        const actor = requireActor(request)
        return deps.db.$transaction(async (tx) => {
          const row = await tx.apiToken.findFirst({ where: { id: request.params.id, userId: actor.user.id } })
          if (!row) throw new AppError('NOT_FOUND', 'token not found')
          if (row.revokedAt) return tokenView(row)
          const revoked = await tx.apiToken.update({ where: { id: row.id }, data: { revokedAt: new Date() } })
          await audit(tx, request, {
            action: 'token.revoke',
            targetType: 'token',
            targetId: row.id,
            before: tokenView(row),
            after: tokenView(revoked),
          })
          return tokenView(revoked)
        })
      },
    )
  }
}
