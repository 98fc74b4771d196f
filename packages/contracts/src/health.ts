import { z } from 'zod'

export const CheckResult = z.object({
  name: z.string(),
  ok: z.boolean(),
  latencyMs: z.number(),
  error: z.string().optional(),
})
export type CheckResult = z.infer<typeof CheckResult>

/**
 * `GET /readyz`: 200 when PostgreSQL and Redis answer, 503 naming the failing one (no error
 * text). An instance administrator also gets every Docker host and each failure's error.
 */
export const ReadinessResponse = z.object({
  ready: z.boolean(),
  checks: z.array(CheckResult),
})
export type ReadinessResponse = z.infer<typeof ReadinessResponse>
