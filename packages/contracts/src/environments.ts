import { z } from 'zod'

/** A count or a percentage of the target instances, e.g. 2 or "25%". */
export const CountOrPercent = z.union([
  z.number().int().min(0),
  z.string().regex(/^\d{1,3}%$/, 'a percentage like "25%"'),
])
export type CountOrPercent = z.infer<typeof CountOrPercent>

/**
 * How a rollout replaces instances. The default follows article 000: fewer than 8 target
 * instances -> one at a time; otherwise ceil(n / 8) at a time.
 */
export const DeployStrategy = z.object({
  /** Instances replaced per batch: "auto" (the rule above) or a fixed count/percentage. */
  batchSize: z.union([z.literal('auto'), CountOrPercent]).default('auto'),
  /** Old instances that may be out of service at once (before their replacements are healthy). */
  maxUnavailable: CountOrPercent.default(0),
  /** Extra instances that may run above the target during the rollout. */
  maxSurge: CountOrPercent.default('100%'),
  /** Seconds an old instance keeps serving in-flight requests after leaving the gateway. */
  drainSeconds: z.number().min(0).max(3600).default(2),
  /** A host whose pre-pull fails: stop the rollout before touching containers, or leave it out. */
  onPullFailure: z.enum(['abort', 'skip-host']).default('abort'),
  /** Longest wait for a new instance to become healthy. */
  healthTimeoutSeconds: z.number().min(1).max(3600).default(60),
})
export type DeployStrategy = z.infer<typeof DeployStrategy>
