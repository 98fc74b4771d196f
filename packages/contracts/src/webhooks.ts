import { z } from 'zod'
import { Id, Timestamp } from './common.ts'

/**
 * The parts of GitLab's Push Hook and Tag Push Hook payloads Slipway reads
 * (https://docs.gitlab.com/user/project/integrations/webhook_events/). Other fields are
 * accepted and ignored.
 */
export const GitlabPushEvent = z.looseObject({
  object_kind: z.enum(['push', 'tag_push']),
  before: z.string(),
  after: z.string(),
  ref: z.string().min(1).max(500),
  checkout_sha: z.string().nullable().optional(),
  user_username: z.string().optional(),
  user_name: z.string().optional(),
  project_id: z.number().optional(),
  project: z.looseObject({ path_with_namespace: z.string().optional() }).optional(),
  commits: z
    .array(z.looseObject({ id: z.string(), message: z.string().optional(), title: z.string().optional() }))
    .optional(),
  total_commits_count: z.number().optional(),
})
export type GitlabPushEvent = z.infer<typeof GitlabPushEvent>

export const WebhookOutcome = z.enum(['started', 'ignored', 'duplicate', 'rejected'])
export type WebhookOutcome = z.infer<typeof WebhookOutcome>

export const WebhookReply = z.object({
  outcome: WebhookOutcome,
  reason: z.string().optional(),
  pipelineId: Id.optional(),
})

export const WebhookDelivery = z.object({
  id: Id,
  eventId: z.string(),
  event: z.string(),
  ref: z.string().nullable(),
  commitSha: z.string().nullable(),
  outcome: z.string(),
  reason: z.string().nullable(),
  pipelineId: Id.nullable(),
  receivedAt: Timestamp,
})
