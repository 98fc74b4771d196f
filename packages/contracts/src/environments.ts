import { z } from 'zod'
import { Id, Slug, Timestamp } from './common.ts'

/** A count or a percentage of the target instances, e.g. 2 or "25%". */
export const CountOrPercent = z.union([
  z.number().int().min(0),
  z.string().regex(/^\d{1,3}%$/, 'a percentage like "25%"'),
])
export type CountOrPercent = z.infer<typeof CountOrPercent>

/** One canary step: the new release's share of requests, held for a time and a number of requests. */
export const CanaryStep = z
  .object({
    /** Percent of requests to the new release (1..99; 100 is the rolling completion). */
    weight: z.number().int().min(1).max(99),
    /** Least time the step lasts before it may pass. */
    holdSeconds: z.number().int().min(0).max(86_400).default(60),
    /** Least requests to the new release before the step may pass. */
    holdRequests: z.number().int().min(0).max(1_000_000).default(100),
    /** Once the step passed, wait for a person (tester or maintainer) to promote or abort. */
    manual: z.boolean().default(false),
  })
  .strict()
export type CanaryStep = z.infer<typeof CanaryStep>

/** What every canary step is judged by, from the gateway's counters for each version. */
export const CanaryThresholds = z
  .object({
    /** No verdict on fewer requests to the new release than this (the step waits). */
    minRequests: z.number().int().min(1).max(1_000_000).default(20),
    /** Highest error rate (connection errors and 5xx) of the new release, 0..1. */
    maxErrorRate: z.number().min(0).max(1).default(0.01),
    /** Highest error rate relative to the old release's over the same window (when it erred too). */
    maxErrorRateRatio: z.number().min(1).max(1000).default(2),
    /** Highest p99 latency of the new release in ms; null: no absolute bound. */
    maxP99Ms: z.number().int().min(1).max(600_000).nullable().default(null),
    /** Highest p99 relative to the old release's over the same window. */
    maxP99Ratio: z.number().min(1).max(1000).default(2),
  })
  .strict()
export type CanaryThresholds = z.infer<typeof CanaryThresholds>

/**
 * The canary strategy: one instance of the new release beside the old ones, given each step's
 * share of requests by gateway weights (in place), each step judged on what the gateway
 * measured of both versions; a failed step rolls back at once, the last one passed completes
 * the release by the rolling strategy. Docker-hosts environments only.
 */
export const CanaryStrategy = z
  .object({
    steps: z
      .array(CanaryStep)
      .min(1)
      .max(10)
      .default([{ weight: 5 }, { weight: 25 }, { weight: 50 }].map((step) => CanaryStep.parse(step)))
      .superRefine((steps, context) => {
        for (const [index, step] of steps.entries()) {
          const before = steps[index - 1]
          if (before && step.weight <= before.weight)
            context.addIssue({
              code: 'custom',
              path: [index, 'weight'],
              message: `each step gives the new release more than the one before (${step.weight}% after ${before.weight}%)`,
            })
        }
      }),
    thresholds: CanaryThresholds.default(CanaryThresholds.parse({})),
    /**
     * A cookie keeps each client on the instance, so the version, that first answered it;
     * without it each request is balanced by weight alone.
     */
    sticky: z.boolean().default(false),
  })
  .strict()
export type CanaryStrategy = z.infer<typeof CanaryStrategy>

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
  /**
   * Longest time an old instance keeps running after leaving the gateway, for the requests
   * the gateway had in flight to it; the drain ends earlier once those have finished.
   */
  drainSeconds: z.number().min(0).max(3600).default(2),
  /** A host whose pre-pull fails: stop the rollout before touching containers, or leave it out. */
  onPullFailure: z.enum(['abort', 'skip-host']).default('abort'),
  /** Longest wait for a new instance to become healthy. */
  healthTimeoutSeconds: z.number().min(1).max(3600).default(60),
  /**
   * Swarm target: how long Swarm watches each updated batch of tasks for a failure before
   * going on (update_config.monitor); a task that fails within it rolls the service back.
   */
  monitorSeconds: z.number().min(0).max(600).default(5),
  /**
   * Canary steps before the rolling replacement (null: straight to it). Used for deploys of a
   * new release over a live one on docker-hosts; rollbacks, scaling and redeploys roll at once.
   */
  canary: CanaryStrategy.nullable().default(null),
})
export type DeployStrategy = z.infer<typeof DeployStrategy>

/**
 * What runs an environment's instances: `docker-hosts`, Slipway's own rolling engine on the
 * environment's Docker hosts; `swarm`, a Docker Swarm whose manager is the environment's one
 * host (Swarm places and updates the tasks; Slipway's gateway routes to them).
 */
export const DeployTargetKind = z.enum(['docker-hosts', 'swarm'])
export type DeployTargetKind = z.infer<typeof DeployTargetKind>

const environmentFields = {
  name: Slug,
  /** Order in the pipeline (pre-release before production). */
  position: z.number().int().min(0).max(100),
  replicas: z.number().int().min(0).max(1000),
  strategy: DeployStrategy,
  protected: z.boolean(),
  requiredApprovals: z.number().int().min(0).max(10),
  allowSelfApproval: z.boolean(),
  approvalTtlMinutes: z.number().int().min(1).max(525_600).nullable(),
  /** The gateway port on 127.0.0.1 serving this environment. */
  gatewayPort: z.number().int().min(1024).max(65535).nullable(),
  hostIds: z.array(Id).max(500),
  target: DeployTargetKind,
}

export const CreateEnvironmentBody = z
  .object({
    ...environmentFields,
    replicas: environmentFields.replicas.default(1),
    strategy: DeployStrategy.default(DeployStrategy.parse({})),
    protected: environmentFields.protected.default(false),
    requiredApprovals: environmentFields.requiredApprovals.default(0),
    allowSelfApproval: environmentFields.allowSelfApproval.default(false),
    approvalTtlMinutes: environmentFields.approvalTtlMinutes.default(null),
    gatewayPort: environmentFields.gatewayPort.default(null),
    hostIds: environmentFields.hostIds.default([]),
    target: DeployTargetKind.default('docker-hosts'),
  })
  .strict()
export type CreateEnvironmentBody = z.infer<typeof CreateEnvironmentBody>

export const UpdateEnvironmentBody = z.object(environmentFields).partial().strict()
export type UpdateEnvironmentBody = z.infer<typeof UpdateEnvironmentBody>

export const Environment = z.object({
  id: Id,
  projectId: Id,
  name: z.string(),
  position: z.number(),
  replicas: z.number(),
  strategy: DeployStrategy,
  protected: z.boolean(),
  requiredApprovals: z.number(),
  allowSelfApproval: z.boolean(),
  approvalTtlMinutes: z.number().nullable(),
  gatewayPort: z.number().nullable(),
  target: DeployTargetKind,
  hosts: z.array(z.object({ id: Id, name: z.string(), status: z.string() })),
  /** The release serving now, if any. */
  live: z
    .object({
      id: Id,
      number: z.number(),
      image: z.string(),
      digest: z.string(),
      replicas: z.number(),
      since: Timestamp.nullable(),
    })
    .nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
export type Environment = z.infer<typeof Environment>
