import { z } from 'zod'
import { Id, SecretInput, Timestamp, withoutUserinfo } from './common.ts'

export const notificationEvents = [
  'pipeline.queued',
  'pipeline.running',
  'pipeline.waiting',
  'pipeline.succeeded',
  'pipeline.failed',
  'pipeline.canceled',
] as const

const hookFields = {
  url: z
    .url({ protocol: /^https?$/ })
    .max(1000)
    .refine(
      withoutUserinfo,
      'no user or password in the URL: the receiver checks X-Slipway-Signature, made with the secret',
    ),
  /** HMAC-SHA256 key for X-Slipway-Signature: write-only. */
  secret: SecretInput,
  /** Empty = every event. */
  events: z.array(z.enum(notificationEvents)).max(notificationEvents.length),
  active: z.boolean(),
}

export const CreateNotificationHookBody = z
  .object({ ...hookFields, events: hookFields.events.default([]), active: hookFields.active.default(true) })
  .strict()
export const UpdateNotificationHookBody = z.object(hookFields).partial().strict()

export const NotificationHook = z.object({
  id: Id,
  url: z.string(),
  events: z.array(z.string()),
  active: z.boolean(),
  secretSet: z.literal(true),
  createdAt: Timestamp,
})
export type NotificationHook = z.infer<typeof NotificationHook>

export const NotificationDelivery = z.object({
  id: Id,
  event: z.string(),
  status: z.string(),
  attempts: z.number(),
  responseStatus: z.number().nullable(),
  error: z.string().nullable(),
  createdAt: Timestamp,
  deliveredAt: Timestamp.nullable(),
})
