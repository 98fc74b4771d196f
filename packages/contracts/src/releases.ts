import { z } from 'zod'
import { Id, Timestamp } from './common.ts'
import { DiscoveryEntry } from './discovery.ts'
import { TrafficReport } from './traffic.ts'

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
