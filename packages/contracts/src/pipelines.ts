import { z } from 'zod'
import { CommitSha, GitRef, Id, PageQuery, Timestamp } from './common.ts'

export const pipelineStatuses = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'canceled'] as const
export const PipelineStatus = z.enum(pipelineStatuses)
export type PipelineStatus = z.infer<typeof PipelineStatus>

export const stageStatuses = [
  'pending',
  'queued',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'canceled',
  'skipped',
] as const
export const StageStatus = z.enum(stageStatuses)
export type StageStatus = z.infer<typeof StageStatus>

export const StageKind = z.enum(['build', 'push', 'deploy', 'approval'])
export type StageKind = z.infer<typeof StageKind>

export const PipelineTrigger = z.enum(['manual', 'api', 'gitlab-push', 'gitlab-tag', 'rerun', 'rollback', 'scale', 'redeploy'])
export type PipelineTrigger = z.infer<typeof PipelineTrigger>

/** Start a pipeline at a ref (branch or tag, resolved now) or at an exact commit. */
export const CreatePipelineBody = z
  .object({ ref: GitRef.optional(), sha: CommitSha.optional() })
  .strict()
  .refine((body) => body.ref || body.sha, 'give a ref, a sha, or both')
export type CreatePipelineBody = z.infer<typeof CreatePipelineBody>

export const Stage = z.object({
  id: Id,
  position: z.number(),
  kind: StageKind,
  environment: z.object({ id: Id, name: z.string() }).nullable(),
  status: StageStatus,
  attempt: z.number(),
  actor: z.string().nullable(),
  error: z.string().nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  queuedAt: Timestamp.nullable(),
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
})
export type Stage = z.infer<typeof Stage>

export const Pipeline = z.object({
  id: Id,
  projectId: Id,
  number: z.number(),
  ref: z.string(),
  commitSha: z.string(),
  commitTitle: z.string().nullable(),
  trigger: PipelineTrigger,
  actor: z.string().nullable(),
  status: PipelineStatus,
  imageDigest: z.string().nullable(),
  error: z.string().nullable(),
  createdAt: Timestamp,
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  stages: z.array(Stage),
})
export type Pipeline = z.infer<typeof Pipeline>

export const PipelineListQuery = PageQuery.extend({
  status: PipelineStatus.optional(),
  ref: z.string().max(255).optional(),
  /** User id of the person who triggered it. */
  actor: Id.optional(),
})
