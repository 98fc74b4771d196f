import { AuthStatus, ChangePasswordBody, LoginBody, Me, SetupBody } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { audit } from '../http/audit.ts'
import { Backoff, type BackoffRule } from '../http/rate-limit.ts'
import type { ApiSettings } from '../settings.ts'
import { userView } from '../users/view.ts'
import { type Actor, requireActor, sessionCookie, sessionExpiry } from './actor.ts'
import { endCredentials } from './credentials.ts'
import { dummyPasswordHash, hashPassword, randomToken, sha256, verifyPassword } from './crypto.ts'

const minute = 60_000
/**
 * Sign-in attempts slow down, they never lock: per account and address (an attacker
 * elsewhere cannot slow the owner down), and per address (one address guessing across
 * accounts). Both wait 1 s, 2 s, 4 s... up to 15 min, forgotten after 15 quiet minutes.
 */
const loginBackoff = {
  accountAtAddress: { free: 5, baseMs: 1000, capMs: 15 * minute, forgetMs: 15 * minute },
  address: { free: 30, baseMs: 1000, capMs: 15 * minute, forgetMs: 15 * minute },
} satisfies Record<string, BackoffRule>

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

async function startSession(
  deps: AppDeps,
  settings: ApiSettings,
  request: FastifyRequest,
  reply: FastifyReply,
  userId: string,
) {
  const token = randomToken()
  const csrfToken = randomToken()
  const createdAt = new Date()
  const session = await deps.db.session.create({
    data: {
      tokenHash: sha256(token),
      userId,
      csrfToken,
      createdAt,
      expiresAt: sessionExpiry(createdAt, settings, createdAt.getTime()),
    },
    include: { user: true },
  })
  reply.setCookie(sessionCookie, token, {
    httpOnly: true,
    sameSite: 'lax',
    // Behind a TLS proxy the request itself is plain http: the public URL says what people use.
    secure: settings.publicUrl.startsWith('https:') || request.protocol === 'https',
    path: '/',
    maxAge: Math.floor(settings.sessionLifetimeMs / 1000),
  })
  const actor: Actor = { user: session.user, via: 'session', sessionId: session.id, csrfToken }
  request.actor = actor
  return actor
}

export function authRoutes(deps: AppDeps, settings: ApiSettings): FastifyPluginAsyncZod {
  const backoff = new Backoff(deps.redis, deps.redisPrefix)
  const setUp = async () => (await deps.db.user.findFirst({ select: { id: true } })) !== null
  return async (app) => {
    app.get('/api/auth/status', { schema: { tags: ['auth'], response: { 200: AuthStatus } } }, async () => ({
      setupRequired: !(await setUp()),
    }))

    app.post(
      '/api/auth/setup',
      { config: { csrf: false }, schema: { tags: ['auth'], body: SetupBody, response: { 201: Me } } },
      async (request, reply) => {
        // Cheap refusal first: once set up, nobody gets to make the server run scrypt here.
        if (await setUp()) throw new AppError('CONFLICT', 'Slipway is already set up; sign in instead')
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
        const actor = await startSession(deps, settings, request, reply, user.id)
        return reply.status(201).send(await me(deps, actor))
      },
    )

    app.post(
      '/api/auth/login',
      { config: { csrf: false }, schema: { tags: ['auth'], body: LoginBody, response: { 200: Me } } },
      async (request, reply) => {
        const { email, password } = request.body
        const pair = `login:${request.ip}:${email}`
        const address = `login-ip:${request.ip}`
        // Counted before the password is checked, in one Redis step: parallel guesses cannot
        // all pass the check before any of them is counted. A success clears or gives back.
        await backoff.take(
          [
            { name: pair, rule: loginBackoff.accountAtAddress },
            { name: address, rule: loginBackoff.address },
          ],
          'login',
        )
        const user = await deps.db.user.findUnique({ where: { email } })
        const ok = await verifyPassword(password, user?.passwordHash ?? dummyPasswordHash)
        if (!user || !ok || user.disabledAt) throw new AppError('UNAUTHENTICATED', 'wrong email or password')
        await backoff.clear(pair)
        await backoff.refund(address)
        const actor = await startSession(deps, settings, request, reply, user.id)
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

    app.post(
      '/api/auth/password',
      { schema: { tags: ['auth'], body: ChangePasswordBody, response: { 204: z.null() } } },
      async (request, reply) => {
        const actor = requireActor(request)
        const pair = `password:${actor.user.id}`
        await backoff.take([{ name: pair, rule: loginBackoff.accountAtAddress }], 'password')
        if (!(await verifyPassword(request.body.currentPassword, actor.user.passwordHash))) {
          throw new AppError('VALIDATION_FAILED', 'the current password is wrong', {
            details: { fields: [{ path: 'body.currentPassword', message: 'wrong password' }] },
          })
        }
        await backoff.clear(pair)
        const passwordHash = await hashPassword(request.body.newPassword)
        await deps.db.$transaction(async (tx) => {
          await tx.user.update({ where: { id: actor.user.id }, data: { passwordHash } })
          const ended = await endCredentials(tx, actor.user.id, { keepSessionId: actor.sessionId })
          await audit(tx, request, {
            action: 'user.password',
            targetType: 'user',
            targetId: actor.user.id,
            after: { sessionsEnded: ended.sessions, tokensRevoked: ended.tokens },
          })
        })
        return reply.status(204).send(null)
      },
    )

    app.get('/api/auth/me', { schema: { tags: ['auth'], response: { 200: Me } } }, async (request) =>
      me(deps, requireActor(request)),
    )
  }
}
