import { z } from 'zod'
import { Id, PageQuery, Timestamp } from './common.ts'

export const AuditEvent = z.object({
  id: z.string(),
  at: Timestamp,
  actor: z.string(),
  actorUserId: Id.nullable(),
  actorTokenId: Id.nullable(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  projectId: Id.nullable(),
  before: z.unknown().nullable(),
  after: z.unknown().nullable(),
  requestId: z.string().nullable(),
})
export type AuditEvent = z.infer<typeof AuditEvent>

export const AuditQuery = PageQuery.extend({
  projectId: Id.optional(),
  actorUserId: Id.optional(),
  action: z.string().max(100).optional(),
  targetType: z.string().max(50).optional(),
  targetId: z.string().max(100).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
})
