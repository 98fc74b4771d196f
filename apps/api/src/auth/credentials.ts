import type { Prisma } from '@slipway/db'

/**
 * Ends what a user is signed in with: every session (but `keepSessionId`, the one changing
 * its own password) and every API token (revoked, kept for the record). Called in the
 * transaction that changes the password, so no old credential outlives the change.
 */
export async function endCredentials(
  tx: Prisma.TransactionClient,
  userId: string,
  options: { keepSessionId?: string } = {},
): Promise<{ sessions: number; tokens: number }> {
  const sessions = await tx.session.deleteMany({
    where: { userId, ...(options.keepSessionId ? { id: { not: options.keepSessionId } } : {}) },
  })
  const tokens = await tx.apiToken.updateMany({
    where: { userId, revokedAt: null },
    data: { revokedAt: new Date() },
  })
  return { sessions: sessions.count, tokens: tokens.count }
}
