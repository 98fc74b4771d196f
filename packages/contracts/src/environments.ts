import { z } from 'zod'
import { Id, Slug, Timestamp } from './common.ts'

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
