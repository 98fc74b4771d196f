import { AppError } from '@slipway/core'
import type { User } from '@slipway/db'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AppDeps } from '../deps.ts'
import { safeEqual, sha256 } from './crypto.ts'

export const sessionCookie = 'slipway_session'
export const sessionTtlMs = 7 * 24 * 60 * 60 * 1000

/** Who is making a request: a user, through a browser session or an API token. */
export interface Actor {
  user: User
  via: 'session' | 'token'
  sessionId?: string
  csrfToken?: string
  tokenId?: string
  tokenName?: string
}

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null
  }
  interface FastifyContextConfig {
    /** false: this write route does not need X-CSRF-Token (sign-in, setup). */
    csrf?: boolean
  }
}

const unsafeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** Human-readable actor for the audit log. */
export function actorLabel(actor: Actor): string {
  return actor.tokenName ? `${actor.user.email} via token ${actor.tokenName}` : actor.user.email
}

async function fromToken(deps: AppDeps, header: string): Promise<Actor | null> {
  const token = header.slice('Bearer '.length).trim()
  const row = await deps.db.apiToken.findUnique({
    where: { tokenHash: sha256(token) },
    include: { user: true },
  })
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= new Date()) || row.user.disabledAt)
    return null
  // Recording use is best effort and at most once a minute per token.
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await deps.db.apiToken
      .update({ where: { id: row.id }, data: { lastUsedAt: new Date() } })
      .catch(() => undefined)
  }
  return { user: row.user, via: 'token', tokenId: row.id, tokenName: row.name }
}

async function fromSession(deps: AppDeps, cookie: string): Promise<Actor | null> {
  const session = await deps.db.session.findUnique({
    where: { tokenHash: sha256(cookie) },
    include: { user: true },
  })
  if (!session || session.expiresAt <= new Date() || session.user.disabledAt) return null
  if (Date.now() - session.lastSeenAt.getTime() > 60_000) {
    await deps.db.session
      .update({
        where: { id: session.id },
        data: { lastSeenAt: new Date(), expiresAt: new Date(Date.now() + sessionTtlMs) },
      })
      .catch(() => undefined)
  }
  return { user: session.user, via: 'session', sessionId: session.id, csrfToken: session.csrfToken }
}

/**
 * Resolves the actor of every request (Authorization: Bearer <token>, else the session
 * cookie) and enforces CSRF on cookie-authenticated writes. Routes decide whether an actor
 * is required (`requireActor`).
 */
export function registerActor(app: FastifyInstance, deps: AppDeps): void {
  app.decorateRequest('actor', null)
  app.addHook('onRequest', async (request) => {
    const authorization = request.headers.authorization
    if (authorization?.startsWith('Bearer ')) {
      request.actor = await fromToken(deps, authorization)
      if (!request.actor)
        throw new AppError('UNAUTHENTICATED', 'the API token is invalid, expired or revoked')
      return
    }
    const cookie = request.cookies[sessionCookie]
    if (!cookie) return
    request.actor = await fromSession(deps, cookie)
    const csrfExempt = request.routeOptions.config?.csrf === false
    if (request.actor && unsafeMethods.has(request.method) && !csrfExempt) {
      const sent = request.headers['x-csrf-token']
      if (typeof sent !== 'string' || !request.actor.csrfToken || !safeEqual(sent, request.actor.csrfToken)) {
        throw new AppError('FORBIDDEN', 'missing or wrong X-CSRF-Token for a cookie-authenticated request', {
          details: { reason: 'csrf' },
        })
      }
    }
  })
}

export function requireActor(request: FastifyRequest): Actor {
  if (!request.actor) throw new AppError('UNAUTHENTICATED', 'sign in or send an API token')
  return request.actor
}
