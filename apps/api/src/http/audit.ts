import type { Prisma } from '@slipway/db'
import type { FastifyRequest } from 'fastify'
import { actorLabel } from '../auth/actor.ts'

export interface AuditEntry {
  action: string
  targetType: string
  targetId?: string | null
  projectId?: string | null
  /** Public views only: never secret values. */
  before?: unknown
  after?: unknown
  /** For requests without a signed-in actor (webhooks): who acted. */
  actor?: string
}

function json(value: unknown): Prisma.InputJsonValue | undefined {
  return value === undefined || value === null
    ? undefined
    : (JSON.parse(JSON.stringify(value)) as Prisma.InputJsonValue)
}

/** Appends one audit event in the caller's transaction, attributed to the request's actor. */
export async function audit(
  tx: Prisma.TransactionClient,
  request: FastifyRequest,
  entry: AuditEntry,
): Promise<void> {
  const actor = request.actor
  await tx.auditEvent.create({
    data: {
      actorUserId: actor?.user.id ?? null,
      actorTokenId: actor?.tokenId ?? null,
      actorLabel: actor ? actorLabel(actor) : (entry.actor ?? 'anonymous'),
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId ?? null,
      projectId: entry.projectId ?? null,
      before: json(entry.before),
      after: json(entry.after),
      requestId: request.id,
      ip: request.ip,
    },
  })
}
