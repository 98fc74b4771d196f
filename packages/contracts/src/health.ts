import { z } from 'zod'

export const CheckResult = z.object({
  name: z.string(),
  ok: z.boolean(),
  latencyMs: z.number(),
  error: z.string().optional(),
})
export type CheckResult = z.infer<typeof CheckResult>

/** `GET /readyz`: 200 when every dependency answers, 503 naming the failing parts. */
export const ReadinessResponse = z.object({
  ready: z.boolean(),
  checks: z.array(CheckResult),
})
export type ReadinessResponse = z.infer<typeof ReadinessResponse>
