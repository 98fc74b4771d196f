import { AuthStatus, LoginBody, Me, SetupBody } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { audit } from '../http/audit.ts'
import { RateLimiter } from '../http/rate-limit.ts'
import { userView } from '../users/view.ts'
import { type Actor, requireActor, sessionCookie, sessionTtlMs } from './actor.ts'
import { dummyPasswordHash, hashPassword, randomToken, sha256, verifyPassword } from './crypto.ts'

const loginRule = { limit: 10, windowSeconds: 15 * 60 }

async function me(deps: AppDeps, actor: Actor): Promise<Me> {
  const memberships = await deps.db.membership.findMany({
    where: { userId: actor.user.id },
    include: { project: { select: { slug: true } } },
    orderBy: { createdAt: 'asc' },
  })
  return {
    user: userView(actor.user),
    csrfToken: actor.via === 'session' ? (actor.csrfToken ?? null) : null,
    memberships: memberships.map((m) => ({
      projectId: m.projectId,
      projectSlug: m.project.slug,
      role: m.role,
    })),
    via: actor.via,
  }
}

async function startSession(deps: AppDeps, request: FastifyRequest, reply: FastifyReply, userId: string) {
  const token = randomToken()
  const csrfToken = randomToken()
  const session = await deps.db.session.create({
    data: { tokenHash: sha256(token), userId, csrfToken, expiresAt: new Date(Date.now() + sessionTtlMs) },
    include: { user: true },
  })
  reply.setCookie(sessionCookie, token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: request.protocol === 'https',
    path: '/',
    maxAge: sessionTtlMs / 1000,
  })
  const actor: Actor = { user: session.user, via: 'session', sessionId: session.id, csrfToken }
  request.actor = actor
  return actor
}

export function authRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  const limiter = new RateLimiter(deps.redis, deps.redisPrefix)
  return async (app) => {
    app.get('/api/auth/status', { schema: { tags: ['auth'], response: { 200: AuthStatus } } }, async () => ({
      setupRequired: (await deps.db.user.count()) === 0,
    }))

    app.post(
      '/api/auth/setup',
      { config: { csrf: false }, schema: { tags: ['auth'], body: SetupBody, response: { 201: Me } } },
      async (request, reply) => {
        const passwordHash = await hashPassword(request.body.password)
        const user = await deps.db.$transaction(async (tx) => {
          // One setup at a time; the first one wins.
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(4242001)`
          if ((await tx.user.count()) > 0)
            throw new AppError('CONFLICT', 'Slipway is already set up; sign in instead')
          const created = await tx.user.create({
            data: { email: request.body.email, name: request.body.name, passwordHash, isAdmin: true },
          })
          await audit(tx, request, {
            action: 'user.setup',
            targetType: 'user',
            targetId: created.id,
            after: userView(created),
            actor: created.email,
          })
          return created
        })
        const actor = await startSession(deps, request, reply, user.id)
        return reply.status(201).send(await me(deps, actor))
      },
    )

    app.post(
      '/api/auth/login',
      { config: { csrf: false }, schema: { tags: ['auth'], body: LoginBody, response: { 200: Me } } },
      async (request, reply) => {
        const { email, password } = request.body
        await limiter.check(`login:${email}`, loginRule)
        await limiter.hit(`login-ip:${request.ip}`, {
          limit: loginRule.limit * 5,
          windowSeconds: loginRule.windowSeconds,
        })
        const user = await deps.db.user.findUnique({ where: { email } })
        const ok = await verifyPassword(password, user?.passwordHash ?? dummyPasswordHash)
        if (!user || !ok || user.disabledAt) {
          await limiter.hit(`login:${email}`, loginRule)
          throw new AppError('UNAUTHENTICATED', 'wrong email or password')
        }
        await limiter.reset(`login:${email}`)
        const actor = await startSession(deps, request, reply, user.id)
        return me(deps, actor)
      },
    )

    app.post(
      '/api/auth/logout',
      { schema: { tags: ['auth'], response: { 204: z.null() } } },
      async (request, reply) => {
        const actor = requireActor(request)
        if (actor.sessionId) await deps.db.session.deleteMany({ where: { id: actor.sessionId } })
        reply.clearCookie(sessionCookie, { path: '/' })
        return reply.status(204).send(null)
      },
    )

    app.get('/api/auth/me', { schema: { tags: ['auth'], response: { 200: Me } } }, async (request) =>
      me(deps, requireActor(request)),
    )
  }
}
