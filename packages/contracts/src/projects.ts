import { z } from 'zod'

/** How Slipway decides that a new container is ready for traffic. */
export const HealthCheck = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('http'),
    /** Path requested on the container port; any 2xx/3xx answer counts as healthy. */
    path: z.string().startsWith('/').max(512).default('/healthz'),
    intervalSeconds: z.number().min(0.1).max(300).default(1),
    timeoutSeconds: z.number().min(0.1).max(120).default(2),
    /** Consecutive successes needed (and failures tolerated after the start period). */
    retries: z.number().int().min(1).max(100).default(3),
    /** Failures during this window do not count. */
    startPeriodSeconds: z.number().min(0).max(3600).default(0),
  }),
  z.object({
    type: z.literal('tcp'),
    intervalSeconds: z.number().min(0.1).max(300).default(1),
    timeoutSeconds: z.number().min(0.1).max(120).default(2),
    retries: z.number().int().min(1).max(100).default(3),
    startPeriodSeconds: z.number().min(0).max(3600).default(0),
  }),
])
export type HealthCheck = z.infer<typeof HealthCheck>

/** What a release's containers look like, whatever the environment. */
export const AppSpec = z.object({
  /** The port the application listens on inside the container. */
  containerPort: z.number().int().min(1).max(65535),
  healthCheck: HealthCheck,
  /** Seconds between SIGTERM and SIGKILL when a container is stopped. */
  stopGraceSeconds: z.number().int().min(0).max(3600).default(10),
  resources: z
    .object({
      memoryMb: z
        .number()
        .int()
        .min(4)
        .max(1024 * 1024)
        .optional(),
      cpus: z.number().min(0.01).max(256).optional(),
    })
    .default({}),
})
export type AppSpec = z.infer<typeof AppSpec>
