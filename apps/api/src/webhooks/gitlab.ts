import { createHash } from 'node:crypto'
import { GitlabPushEvent, Id, type WebhookOutcome, WebhookReply } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { Prisma, secretContext } from '@slipway/db'
import { parsePushedRef, refSelected } from '@slipway/pipeline'
import type { Change } from '@slipway/runs'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { safeEqual } from '../auth/crypto.ts'
import type { AppDeps } from '../deps.ts'
import { audit } from '../http/audit.ts'
import { RateLimiter } from '../http/rate-limit.ts'
import { createPipeline, perProject } from '../pipelines/create.ts'

const failureRule = { limit: 20, windowSeconds: 10 * 60 }
const zeroSha = /^0{40}$/
const handledEvents = new Set(['Push Hook', 'Tag Push Hook'])

/** The delivery's identity when GitLab sends none; JSON.stringify overflows on absurd nesting. */
function bodyHash(body: unknown): string {
  try {
    return createHash('sha256')
      .update(JSON.stringify(body) ?? '')
      .digest('hex')
  } catch {
    throw new AppError('VALIDATION_FAILED', 'the payload is nested too deeply to be a GitLab event')
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/**
 * GitLab webhook receiver. The secret token is compared in constant time; failures are rate
 * limited per project and address. Push and tag pushes matching the project's rules start a
 * pipeline; everything else is acknowledged and recorded. A redelivery (same
 * X-Gitlab-Event-UUID or Idempotency-Key) never starts a second pipeline.
 */
export function gitlabWebhookRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  const limiter = new RateLimiter(deps.redis, deps.redisPrefix)
  return async (app) => {
    app.post(
      '/api/webhooks/gitlab/:projectId',
      {
        bodyLimit: 5 * 1024 * 1024,
        config: { csrf: false },
        schema: {
          tags: ['webhooks'],
          params: z.object({ projectId: Id }),
          body: z.unknown(),
          response: { 200: WebhookReply },
        },
      },
      async (request) => {
        const { projectId } = request.params
        const failureKey = `webhook-fail:${projectId}:${request.ip}`
        await limiter.check(failureKey, failureRule)
        const project = await deps.db.project.findUnique({ where: { id: projectId } })
        if (!project) throw new AppError('NOT_FOUND', 'project not found')
        const sent = header(request.headers['x-gitlab-token'])
        const expected = project.webhookSecretEnc
          ? deps.secrets.decrypt(project.webhookSecretEnc, secretContext.projectWebhookSecret(project.id))
          : undefined
        if (!expected || !sent || !safeEqual(sent, expected)) {
          await limiter.hit(failureKey, failureRule)
          throw new AppError(
            'UNAUTHENTICATED',
            expected
              ? 'X-Gitlab-Token does not match the project webhook secret'
              : 'the project has no webhook secret set',
          )
        }

        const event = header(request.headers['x-gitlab-event']) ?? 'unknown'
        const eventId =
          header(request.headers['x-gitlab-event-uuid']) ??
          header(request.headers['idempotency-key']) ??
          `body:${bodyHash(request.body)}`
        const parsed = handledEvents.has(event) ? GitlabPushEvent.safeParse(request.body) : undefined

        const record = async (
          tx: Prisma.TransactionClient | AppDeps['db'],
          outcome: WebhookOutcome,
          fields: { reason?: string; ref?: string; commitSha?: string; pipelineId?: string },
        ) => {
          await tx.webhookDelivery.create({
            data: {
              projectId,
              eventId: eventId.slice(0, 200),
              event: event.slice(0, 100),
              outcome,
              ...fields,
            },
          })
          return { outcome, reason: fields.reason, pipelineId: fields.pipelineId }
        }

        if (parsed && !parsed.success) {
          // The delivery is recorded; nothing else changes.
          await record(deps.db, 'rejected', { reason: 'payload is not a GitLab push event' }).catch(
            () => undefined,
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

        const superseded: Change[] = []
        try {
          // One delivery of a project at a time: they queue here rather than holding pooled
          // connections while they wait for the project's pipeline-number lock.
          return await perProject(projectId, () =>
            deps.db.$transaction(async (tx) => {
              if (!parsed) return record(tx, 'ignored', { reason: `${event} events do not start pipelines` })
              const payload = parsed.data
              const ref = parsePushedRef(payload.ref)
              const fields = { ref: payload.ref, commitSha: payload.after }
              if (zeroSha.test(payload.after))
                return record(tx, 'ignored', { ...fields, reason: 'ref deleted' })
              if (!ref)
                return record(tx, 'ignored', {
                  ...fields,
                  reason: `${payload.ref} is neither a branch nor a tag`,
                })
              if (!refSelected(ref, project)) {
                return record(tx, 'ignored', {
                  ...fields,
                  reason: `${ref.kind} ${ref.name} does not match the project rules`,
                })
              }
              if (!/^[0-9a-f]{40}$/.test(payload.after)) {
                return record(tx, 'rejected', { ...fields, reason: 'after is not a commit SHA' })
              }
              const commit = payload.commits?.find((c) => c.id === payload.after)
              const { pipeline, changes } = await createPipeline(tx, {
                project,
                ref: ref.name,
                commitSha: payload.after,
                commitTitle: commit?.title ?? commit?.message?.split('\n')[0] ?? null,
                trigger: ref.kind === 'tag' ? 'gitlab-tag' : 'gitlab-push',
              })
              await audit(tx, request, {
                action: 'pipeline.create',
                targetType: 'pipeline',
                targetId: pipeline.id,
                projectId,
                after: { number: pipeline.number, ref: ref.name, commitSha: payload.after, event },
                actor: `gitlab webhook (${payload.user_username ?? 'unknown user'})`,
              })
              superseded.push(...changes)
              return record(tx, 'started', { ...fields, pipelineId: pipeline.id })
            }),
          )
        } catch (error) {
          if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
            const first = await deps.db.webhookDelivery.findUnique({
              where: { projectId_eventId: { projectId, eventId } },
            })
            return {
              outcome: 'duplicate' as const,
              reason: `already received as ${first?.outcome ?? 'a previous delivery'}`,
              pipelineId: first?.pipelineId ?? undefined,
            }
          }
          throw error
        } finally {
          void deps.outbox.kick()
          for (const change of superseded) void deps.publish(change)
        }
      },
    )
  }
}
