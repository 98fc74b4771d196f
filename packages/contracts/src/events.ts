import { z } from 'zod'

/** What `GET /api/projects/:p/events` sends (SSE event `run`): a status change to refetch. */
export const RunEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('pipeline'), pipelineId: z.string(), status: z.string(), number: z.number() }),
  z.object({
    type: z.literal('stage'),
    pipelineId: z.string(),
    stageId: z.string(),
    status: z.string(),
    attempt: z.number(),
    error: z.string().nullable().optional(),
  }),
  z.object({
    type: z.literal('release'),
    environmentId: z.string(),
    releaseId: z.string(),
    status: z.string(),
  }),
])
export type RunEvent = z.infer<typeof RunEvent>
