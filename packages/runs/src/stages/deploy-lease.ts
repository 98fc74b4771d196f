import { AppError } from '@slipway/core'
import type { Prisma } from '@slipway/db'

type Tx = Prisma.TransactionClient

/**
 * How long a lease (stage or deploy) lives without renewal unless the worker is given another
 * (STAGE_LEASE_SECONDS); heartbeats renew it every third of that.
 */
export const leaseMs = 30_000

/**
 * A write made under an environment's deploy lease found the lease taken by someone else
 * (its token is no longer current): the write changed nothing, and the work must stop.
 */
export class DeployLeaseLost extends AppError {
  constructor(environmentName = 'the environment') {
    super(
      'CONFLICT',
      `the deploy lease of ${environmentName} was lost (another deploy or a reconcile holds it now): this work stopped and changed nothing more`,
    )
    this.name = 'DeployLeaseLost'
  }
}

export type DeployLeaseTake = { token: string } | { heldUntil: Date }

/**
 * Takes an environment's deploy lease for `holder`, in one statement: the row is inserted,
 * or updated when it is free (expired) or already this holder's; either way with a new
 * fencing token. Another live holder keeps it (then: until when it holds it). Two takers
 * at once never both get it: the insert-or-update takes the row's lock.
 */
export async function takeDeployLease(
  tx: Tx,
  environmentId: string,
  holder: string,
  owner: string,
  now = new Date(),
  ms = leaseMs,
): Promise<DeployLeaseTake> {
  const expiresAt = new Date(now.getTime() + ms)
  const taken = await tx.$queryRaw<{ token: string }[]>`
    INSERT INTO "DeployLease" ("environmentId", holder, owner, "expiresAt", "acquiredAt", token)
    VALUES (${environmentId}::uuid, ${holder}, ${owner}, ${expiresAt}, ${now}, gen_random_uuid())
    ON CONFLICT ("environmentId") DO UPDATE
      SET holder = EXCLUDED.holder, owner = EXCLUDED.owner, "expiresAt" = EXCLUDED."expiresAt",
          "acquiredAt" = EXCLUDED."acquiredAt", token = EXCLUDED.token
      WHERE "DeployLease".holder = EXCLUDED.holder OR "DeployLease"."expiresAt" <= EXCLUDED."acquiredAt"
    RETURNING token::text AS token`
  if (taken[0]) {
    // Whoever deployed here before without finishing (a worker that died mid-rollout) is gone:
    // the lease was free. Its release is settled truthfully instead of "deploying" forever.
    await settleInterruptedReleases(tx, environmentId)
    return { token: taken[0].token }
  }
  const current = await tx.deployLease.findUnique({ where: { environmentId }, select: { expiresAt: true } })
  return { heldUntil: current?.expiresAt ?? new Date(now.getTime() + 1000) }
}

/** Extends a deploy lease that is still this token's; false when it was lost. */
export async function renewDeployLease(
  tx: Tx,
  environmentId: string,
  token: string,
  ms = leaseMs,
): Promise<boolean> {
  const renewed = await tx.$executeRaw`
    UPDATE "DeployLease" SET "expiresAt" = ${new Date(Date.now() + ms)}
    WHERE "environmentId" = ${environmentId}::uuid AND token = ${token}::uuid`
  return renewed === 1
}

/**
 * The fence every write under a deploy lease passes first, in the write's transaction: the
 * lease row must still carry this token; it stays locked until the commit, so nobody takes
 * the lease in between. Throws DeployLeaseLost otherwise (the transaction changes nothing).
 */
export async function fenceDeployLease(
  tx: Tx,
  environmentId: string,
  token: string,
  environmentName?: string,
): Promise<void> {
  const held = await tx.$queryRaw<{ holder: string }[]>`
    SELECT holder FROM "DeployLease"
    WHERE "environmentId" = ${environmentId}::uuid AND token = ${token}::uuid FOR UPDATE`
  if (!held.length) throw new DeployLeaseLost(environmentName)
}

/** Gives a deploy lease back, only while it is still this token's. */
export async function dropDeployLease(tx: Tx, environmentId: string, token: string): Promise<void> {
  await tx.$executeRaw`
    DELETE FROM "DeployLease" WHERE "environmentId" = ${environmentId}::uuid AND token = ${token}::uuid`
}

/**
 * Releases of an environment still `deploying` while nobody holds its deploy lease were left
 * by a deploy that stopped mid-rollout (its worker died or lost the lease): they are failed,
 * saying so. What runs on the hosts is what reconcile and the next deploy converge.
 */
async function settleInterruptedReleases(tx: Tx, environmentId: string): Promise<number> {
  const settled = await tx.release.updateMany({
    where: { environmentId, status: 'deploying' },
    data: {
      status: 'failed',
      error:
        'interrupted: the deploy stopped before its rollout finished (its worker stopped or lost the lease)',
      finishedAt: new Date(),
    },
  })
  return settled.count
}
