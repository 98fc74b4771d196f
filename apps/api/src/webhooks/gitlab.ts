import { createHash, randomUUID } from 'node:crypto'
import { GitlabPushEvent, Id, type WebhookOutcome, WebhookReply } from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import { Prisma, type Project, secretContext } from '@slipway/db'
import { refChecker } from '@slipway/git'
import { type PushedRef, parsePushedRef, refSelected } from '@slipway/pipeline'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { safeEqual } from '../auth/crypto.ts'
import type { AppDeps } from '../deps.ts'
import { audit } from '../http/audit.ts'
import { Backoff, type BackoffRule, RateLimiter } from '../http/rate-limit.ts'
import { projectGitUrl } from '../projects/git-url.ts'

/** Wrong tokens from one address for one project: 20 per 10 minutes, then 429. */
const failureRule = { limit: 20, windowSeconds: 10 * 60 }
/**
 * Deliveries in flight or with a wrong token, from one address for one project, counted
 * before the token is checked (one Redis step) as sign-in does: parallel guesses all pass
 * the failure check above before any of them is counted, so a burst is bounded here. Any
 * other outcome gives its count back, so GitLab's own bursts (up to 100 deliveries at once) pass.
 */
const burstRule: BackoffRule = { free: 100, baseMs: 60_000, capMs: 15 * 60_000, forgetMs: 10 * 60_000 }
const zeroSha = /^0{40}$/
const commitSha = /^[0-9a-f]{40}$/
const handledEvents = new Set(['Push Hook', 'Tag Push Hook'])

/**
 * The largest push or tag push body accepted. GitLab lists at most the newest 20 commits in
 * a push event (each with its message and changed paths), so a real one stays far below.
 * Other events are answered from their headers and never read.
 */
const webhookBodyLimit = 1024 * 1024

/** How long a delivery may spend checking its commit against the repository (GitLab waits 10 s). */
const verifyTimeoutMs = 8_000

/** The delivery's identity when GitLab sends none; JSON.stringify overflows on absurd nesting. */
function bodyHash(body: unknown): string {
  try {
    return createHash('sha256')
      .update(JSON.stringify(body) ?? '')
      .digest('hex')
  } catch (error) {
    // RangeError: the call stack ran out on the nesting.
    if (!(error instanceof RangeError)) throw error
    throw new AppError('VALIDATION_FAILED', 'the payload is nested too deeply to be a GitLab event')
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

type Reply = { outcome: WebhookOutcome; reason?: string; pipelineId?: string }
type Fields = { reason?: string; ref?: string; commitSha?: string; pipelineId?: string }

/**
 * What a push or tag push asks for, decided from the payload and the project's rules alone:
 * a pipeline of `sha` on `ref`, or an outcome with its reason. A tag push names its commit in
 * `checkout_sha`: for an annotated tag `after` is the tag object, not a commit.
 */
function decide(
  payload: GitlabPushEvent,
  project: Project,
): { start: { ref: PushedRef; sha: string }; fields: Fields } | { outcome: WebhookOutcome; fields: Fields } {
  const ref = parsePushedRef(payload.ref)
  const sha = payload.checkout_sha ?? payload.after
  const fields = { ref: payload.ref, commitSha: sha }
  if (zeroSha.test(payload.after)) return { outcome: 'ignored', fields: { ...fields, reason: 'ref deleted' } }
  if (!ref)
    return {
      outcome: 'ignored',
      fields: { ...fields, reason: `${payload.ref} is neither a branch nor a tag` },
    }
  if (!refSelected(ref, project))
    return {
      outcome: 'ignored',
      fields: { ...fields, reason: `${ref.kind} ${ref.name} does not match the project rules` },
    }
  if (!commitSha.test(sha))
    return { outcome: 'rejected', fields: { ...fields, reason: 'checkout_sha is not a commit SHA' } }
  return { start: { ref, sha }, fields }
}

/**
 * GitLab webhook receiver. Cheap checks come first, before the body is read: the failure
 * rate limit, the project, the secret token (constant time); an event that never starts a
 * pipeline is answered from its headers. Only then is a body of at most 1 MiB parsed. Push
 * and tag pushes matching the project's rules start a pipeline once the repository confirms
 * the commit is on the ref; everything else is acknowledged and recorded. A redelivery (same
 * X-Gitlab-Event-UUID or Idempotency-Key) never starts a second pipeline.
 */
export function gitlabWebhookRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  const limiter = new RateLimiter(deps.redis, deps.redisPrefix)
  const backoff = new Backoff(deps.redis, deps.redisPrefix)
  /** A burst of deliveries for one ref shares one ls-remote; git commands run 4 at a time. */
  const refs = refChecker({ concurrency: 4 })
  /** The project whose token a request proved, from its onRequest check to its handler. */
  const authorized = new WeakMap<FastifyRequest, Project>()

  const record = async (
    tx: Prisma.TransactionClient | AppDeps['db'],
    delivery: { projectId: string; eventId: string; event: string },
    outcome: WebhookOutcome,
    fields: Fields,
  ): Promise<Reply> => {
    await tx.webhookDelivery.create({
      data: {
        projectId: delivery.projectId,
        eventId: delivery.eventId.slice(0, 200),
        event: delivery.event.slice(0, 100),
        outcome,
        ...fields,
      },
    })
    return { outcome, reason: fields.reason, pipelineId: fields.pipelineId }
  }

  /** A delivery already recorded under this event id: the first one's outcome. */
  const duplicateOf = async (projectId: string, eventId: string): Promise<Reply> => {
    const first = await deps.db.webhookDelivery.findUnique({
      where: { projectId_eventId: { projectId, eventId: eventId.slice(0, 200) } },
    })
    return {
      outcome: 'duplicate',
      reason: `already received as ${first?.outcome ?? 'a previous delivery'}`,
      pipelineId: first?.pipelineId ?? undefined,
    }
  }

  const isDuplicate = (error: unknown) =>
    error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002'

  /** Rate limit, project and token, from the headers alone; throws before the body is read. */
  const authenticate = async (request: FastifyRequest): Promise<Project> => {
    const id = Id.safeParse((request.params as { projectId?: unknown }).projectId)
    if (!id.success)
      throw new AppError('VALIDATION_FAILED', 'the request is not valid', {
        details: { fields: [{ path: 'params.projectId', message: 'Invalid UUID' }] },
      })
    const projectId = id.data
    const failureKey = `webhook-fail:${projectId}:${request.ip}`
    await backoff.take([{ name: failureKey, rule: burstRule }], 'webhook')
    // Only a token compared and found wrong keeps its count; anything else (the failure
    // limit reached, no such project, the database away) gives it back.
    let guessed = false
    try {
      await limiter.check(failureKey, failureRule)
      const project = await deps.db.project.findUnique({ where: { id: projectId } })
      if (!project) throw new AppError('NOT_FOUND', 'project not found')
      const sent = header(request.headers['x-gitlab-token'])
      const expected = project.webhookSecretEnc
        ? deps.secrets.decrypt(project.webhookSecretEnc, secretContext.projectWebhookSecret(project.id))
        : undefined
      if (!expected || !sent || !safeEqual(sent, expected)) {
        guessed = true
        await limiter.hit(failureKey, failureRule)
        throw new AppError(
          'UNAUTHENTICATED',
          expected
            ? 'X-Gitlab-Token does not match the project webhook secret'
            : 'the project has no webhook secret set',
        )
      }
      return project
    } finally {
      if (!guessed) await backoff.refund(failureKey)
    }
  }

  return async (app) => {
    app.post(
      '/api/webhooks/gitlab/:projectId',
      {
        bodyLimit: webhookBodyLimit,
        config: { csrf: false },
        schema: {
          tags: ['webhooks'],
          params: z.object({ projectId: Id }),
          body: z.unknown(),
          response: { 200: WebhookReply },
        },
        onRequest: async (request, reply) => {
          const project = await authenticate(request)
          const event = header(request.headers['x-gitlab-event']) ?? 'unknown'
          if (handledEvents.has(event)) {
            authorized.set(request, project)
            return
          }
          // Merge requests, issues...: acknowledged and recorded without reading the body.
          const eventId =
            header(request.headers['x-gitlab-event-uuid']) ??
            header(request.headers['idempotency-key']) ??
            `unidentified:${randomUUID()}`
          const delivery = { projectId: project.id, eventId, event }
          const answer = await record(deps.db, delivery, 'ignored', {
            reason: `${event} events do not start pipelines`,
          }).catch(async (error: unknown) => {
            if (isDuplicate(error)) return duplicateOf(project.id, eventId)
            throw error
          })
          return reply.send(answer)
        },
      },
      async (request) => {
        const project = authorized.get(request)
        if (!project) throw new AppError('INTERNAL', 'webhook handler reached without its token check')
        const projectId = project.id
        const event = header(request.headers['x-gitlab-event']) ?? 'unknown'
        const eventId =
          header(request.headers['x-gitlab-event-uuid']) ??
          header(request.headers['idempotency-key']) ??
          `body:${bodyHash(request.body)}`
        const delivery = { projectId, eventId, event }
        const parsed = GitlabPushEvent.safeParse(request.body)

        if (!parsed.success) {
          // The delivery is recorded (unless it is a redelivery); nothing else changes.
          await record(deps.db, delivery, 'rejected', { reason: 'payload is not a GitLab push event' }).catch(
            (error: unknown) => {
              if (!isDuplicate(error)) throw error
            },
          )
          throw new AppError('VALIDATION_FAILED', 'payload is not a GitLab push event', {
            details: {
              fields: parsed.error.issues.map((i) => ({
                path: `body.${i.path.join('.')}`,
                message: i.message,
              })),
            },
          })
        }
        const payload = parsed.data
        const decision = decide(payload, project)
        try {
          if (!('start' in decision))
            return await record(deps.db, delivery, decision.outcome, decision.fields)
          const { ref, sha } = decision.start
          // The commit must be on the ref it is labelled with, in the project's repository:
          // never a feature branch's commit built and deployed as main.
          const membership = await refs
            .commitOnRef(projectGitUrl(deps.secrets, project), ref, sha, {
              env: deps.gitEnv,
              timeoutMs: verifyTimeoutMs,
            })
            .catch((error: unknown) => {
              request.log.warn(
                { err: error, ref: payload.ref },
                'could not check a pushed commit in the repository',
              )
              return {
                belongs: false as const,
                reason: `the repository could not be read: ${errorMessage(error)}`,
              }
            })
          if (!membership.belongs)
            return await record(deps.db, delivery, 'ignored', {
              ...decision.fields,
              reason: membership.reason,
            })

          // One delivery of a project at a time (serialKey): they queue here rather than holding
          // pooled connections while they wait for the project's pipeline-number lock. A
          // transaction that loses a race with a running pipeline is run again inside.
          return await deps.runs.transaction(
            async ({ tx, createPipeline }) => {
              const commit = payload.commits?.find((c) => c.id === sha)
              const pipeline = await createPipeline({
                project,
                ref: ref.name,
                commitSha: sha,
                commitTitle: commit?.title ?? commit?.message?.split('\n')[0] ?? null,
                trigger: ref.kind === 'tag' ? 'gitlab-tag' : 'gitlab-push',
              })
              await audit(tx, request, {
                action: 'pipeline.create',
                targetType: 'pipeline',
                targetId: pipeline.id,
                projectId,
                after: { number: pipeline.number, ref: ref.name, commitSha: sha, event },
                actor: `gitlab webhook (${payload.user_username ?? 'unknown user'})`,
              })
              return record(tx, delivery, 'started', { ...decision.fields, pipelineId: pipeline.id })
            },
            { serialKey: projectId },
          )
        } catch (error) {
          if (isDuplicate(error)) return duplicateOf(projectId, eventId)
          throw error
        }
      },
    )
  }
}
