import { AppError } from '@slipway/core'
import type { User } from '@slipway/db'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AppDeps } from '../deps.ts'
import type { ApiSettings } from '../settings.ts'
import { safeEqual, sha256 } from './crypto.ts'

export const sessionCookie = 'slipway_session'

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

type TokenRow = { revokedAt: Date | null; expiresAt: Date | null; user: User }
type SessionRow = { createdAt: Date; expiresAt: Date; user: User }

function tokenValid(row: TokenRow | null, now: number): row is TokenRow {
  return !!row && !row.revokedAt && !(row.expiresAt && row.expiresAt.getTime() <= now) && !row.user.disabledAt
}

/** A session ends when idle past its expiry or past its absolute lifetime from sign-in. */
function sessionValid(row: SessionRow | null, settings: ApiSettings, now: number): row is SessionRow {
  return (
    !!row &&
    row.expiresAt.getTime() > now &&
    row.createdAt.getTime() + settings.sessionLifetimeMs > now &&
    !row.user.disabledAt
  )
}

/** When a session started at `createdAt` and used now ends: idle time from now, never past its lifetime. */
export function sessionExpiry(createdAt: Date, settings: ApiSettings, now = Date.now()): Date {
  return new Date(Math.min(now + settings.sessionIdleMs, createdAt.getTime() + settings.sessionLifetimeMs))
}

async function fromToken(deps: AppDeps, header: string): Promise<Actor | null> {
  const token = header.slice('Bearer '.length).trim()
  const row = await deps.db.apiToken.findUnique({
    where: { tokenHash: sha256(token) },
    include: { user: true },
  })
  if (!tokenValid(row, Date.now())) return null
  // Recording use is best effort and at most once a minute per token.
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await deps.db.apiToken
      .update({ where: { id: row.id }, data: { lastUsedAt: new Date() } })
      .catch((error: unknown) =>
        deps.logger.warn({ err: error, tokenId: row.id }, 'could not record token use'),
      )
  }
  return { user: row.user, via: 'token', tokenId: row.id, tokenName: row.name }
}

async function fromSession(deps: AppDeps, settings: ApiSettings, cookie: string): Promise<Actor | null> {
  const session = await deps.db.session.findUnique({
    where: { tokenHash: sha256(cookie) },
    include: { user: true },
  })
  if (!sessionValid(session, settings, Date.now())) return null
  if (Date.now() - session.lastSeenAt.getTime() > 60_000) {
    await deps.db.session
      .update({
        where: { id: session.id },
        data: { lastSeenAt: new Date(), expiresAt: sessionExpiry(session.createdAt, settings) },
      })
      .catch((error: unknown) =>
        deps.logger.warn({ err: error, sessionId: session.id }, 'could not extend the session'),
      )
  }
  return { user: session.user, via: 'session', sessionId: session.id, csrfToken: session.csrfToken }
}

/**
 * The actor as it stands now (its user re-read), or null when the session or token that
 * made it has ended since: signed out, expired, revoked, the user disabled. Long-lived
 * requests (live streams) call this again and again.
 */
export async function currentActor(
  deps: AppDeps,
  settings: ApiSettings,
  actor: Actor,
): Promise<Actor | null> {
  const now = Date.now()
  if (actor.via === 'token') {
    const row = actor.tokenId
      ? await deps.db.apiToken.findUnique({ where: { id: actor.tokenId }, include: { user: true } })
      : null
    return tokenValid(row, now) ? { ...actor, user: row.user } : null
  }
  const session = actor.sessionId
    ? await deps.db.session.findUnique({ where: { id: actor.sessionId }, include: { user: true } })
    : null
  return sessionValid(session, settings, now) ? { ...actor, user: session.user } : null
}

/**
 * Resolves the actor of every request (Authorization: Bearer <token>, else the session
 * cookie) and enforces CSRF on cookie-authenticated writes. Routes decide whether an actor
 * is required (`requireActor`).
 */
export function registerActor(app: FastifyInstance, deps: AppDeps, settings: ApiSettings): void {
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
    request.actor = await fromSession(deps, settings, cookie)
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
