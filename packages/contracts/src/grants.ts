import { z } from 'zod'
import { Id, Timestamp } from './common.ts'
import { ImageRepository } from './projects.ts'

/** A project's limits, set by an instance administrator (packages/policy grants.ts). */
export const ProjectLimits = z
  .object({
    /** Replicas per environment. */
    maxReplicas: z.number().int().min(0).max(1000).default(10),
    /** Memory per instance in MiB; an app spec without its own limit runs with this one. */
    maxMemoryMb: z
      .number()
      .int()
      .min(4)
      .max(1024 * 1024)
      .default(2048),
    /** May the app share its hosts' network? */
    allowHostNetwork: z.boolean().default(false),
  })
  .strict()
export type ProjectLimits = z.infer<typeof ProjectLimits>

/**
 * `PUT /api/projects/:project/grants` (instance administrators): what the project may use,
 * replacing what it had. A grant its environments or settings still use cannot be withdrawn
 * (409 naming the use).
 */
export const PutProjectGrantsBody = z
  .object({
    hostIds: z.array(Id).max(500),
    registries: z
      .array(
        z
          .object({
            registryId: Id,
            /** The repository path the project's images must live at or below (e.g. `team/shop`). */
            pathPrefix: ImageRepository,
          })
          .strict(),
      )
      .max(50),
    limits: ProjectLimits,
  })
  .strict()
export type PutProjectGrantsBody = z.infer<typeof PutProjectGrantsBody>

export const ProjectGrants = z.object({
  hosts: z.array(z.object({ id: Id, name: z.string(), grantedAt: Timestamp })),
  registries: z.array(
    z.object({ id: Id, name: z.string(), url: z.string(), pathPrefix: z.string(), grantedAt: Timestamp }),
  ),
  limits: z.object({ maxReplicas: z.number(), maxMemoryMb: z.number(), allowHostNetwork: z.boolean() }),
})
export type ProjectGrants = z.infer<typeof ProjectGrants>
