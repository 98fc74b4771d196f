import { z } from 'zod'
import { Id, Timestamp } from './common.ts'
import { DiscoveryEntry } from './discovery.ts'
import { CanaryStrategy } from './environments.ts'
import { TrafficReport } from './traffic.ts'

/** What the gateway measured of one version over a canary step (so far). */
export const CanaryFigures = z.object({
  requests: z.number().int().min(0),
  /** Connection errors and 5xx. */
  errors: z.number().int().min(0),
  p99Ms: z.number().nullable(),
})
export type CanaryFigures = z.infer<typeof CanaryFigures>

const ServerWeights = z.object({
  /** HAProxy weight of the canary instance. */
  newer: z.number().int().min(0).max(256),
  /** HAProxy weight of each instance of the old release. */
  older: z.number().int().min(0).max(256),
})

/** A judged canary step: its weights, the verdict and the figures it was judged on. */
export const CanaryStepReport = z.object({
  weight: z.number(),
  weights: ServerWeights,
  verdict: z.object({ decision: z.enum(['hold', 'pass', 'fail']), reason: z.string() }),
  newer: CanaryFigures,
  older: CanaryFigures,
  elapsedMs: z.number(),
})
export type CanaryStepReport = z.infer<typeof CanaryStepReport>

export const CanaryPhase = z.enum(['starting', 'judging', 'waiting', 'promoted', 'rolled-back'])
export type CanaryPhase = z.infer<typeof CanaryPhase>

/** A person's command to a canary, as recorded. */
export const CanaryCommandRecord = z.object({
  action: z.enum(['promote', 'abort']),
  /** The person's email. */
  by: z.string(),
  /** The step it was given at (0-based). */
  step: z.number().int().min(0),
  at: Timestamp,
})
export type CanaryCommandRecord = z.infer<typeof CanaryCommandRecord>

/** A release's canary as it stands (stored on the release while it runs and after). */
export const CanaryState = z.object({
  phase: CanaryPhase,
  /** The step judged or waited on (0-based); the steps' count once promoted. */
  step: z.number().int().min(0),
  /** The new release's share of requests now, percent. */
  weight: z.number(),
  weights: ServerWeights,
  /** The steps and thresholds this canary runs by (the environment's at its start). */
  plan: CanaryStrategy.pick({ steps: true, thresholds: true }),
  steps: z.array(CanaryStepReport),
  /** The current step's verdict while it holds. */
  holding: z.string().nullable(),
  /** Why it was rolled back. */
  reason: z.string().nullable(),
  /**
   * Each version's figures over the current step so far, once a second: the pipeline page's
   * chart (empty in pipeline lists).
   */
  samples: z.array(
    z.object({ t: z.number().int(), step: z.number().int(), newer: CanaryFigures, older: CanaryFigures }),
  ),
  /** The last command a person gave, if any. */
  command: CanaryCommandRecord.nullable(),
  updatedAt: Timestamp,
})
export type CanaryState = z.infer<typeof CanaryState>

/** Promote or abort a canary: an optional word for the audit log. */
export const CanaryCommandBody = z.object({ comment: z.string().max(2000).optional() }).strict()

export const ReleaseStatus = z.enum(['pending', 'deploying', 'live', 'failed', 'rolled_back', 'superseded'])

export const Release = z.object({
  id: Id,
  number: z.number(),
  kind: z.string(),
  status: ReleaseStatus,
  image: z.string(),
  digest: z.string(),
  replicas: z.number(),
  configVersion: z.number().nullable(),
  pipeline: z.object({ id: Id, number: z.number(), commitSha: z.string(), ref: z.string() }).nullable(),
  actor: z.string().nullable(),
  error: z.string().nullable(),
  createdAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  /** What the gateway saw during its rollout; null until recorded (and for older releases). */
  traffic: TrafficReport.nullable(),
})
export type Release = z.infer<typeof Release>

export const RollbackBody = z
  .object({
    /** The release to go back to (default: the one before the live release). */
    releaseNumber: z.number().int().min(1).optional(),
  })
  .strict()

export const ScaleBody = z.object({ replicas: z.number().int().min(0).max(1000) }).strict()

/** A container of the environment as found on its host, and whether the gateway routes to it. */
export const InstanceView = z.object({
  id: z.string(),
  host: z.string(),
  /** The address the instance is reached at (its host's); with `port`, where health checks dial it. */
  address: z.string(),
  port: z.number().nullable(),
  containerId: z.string(),
  state: z.string(),
  release: z.object({ id: z.string(), number: z.number().nullable() }),
  image: z.string(),
  inGateway: z.boolean(),
  lastHeartbeatAt: Timestamp.nullable(),
  /** When the container (last) started, for uptime. */
  startedAt: Timestamp.nullable(),
})

export const EnvironmentInstances = z.object({
  instances: z.array(InstanceView),
  /** Hosts that could not be asked, with the reason. */
  unreachable: z.array(z.object({ host: z.string(), error: z.string() })),
  discovery: z.array(DiscoveryEntry),
})

export const ContainerLogs = z.object({ lines: z.array(z.string()) })
