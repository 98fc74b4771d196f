import { z } from 'zod'
import { CommitSha, GitRef, Id, PageQuery, Timestamp } from './common.ts'
import { CanaryState } from './releases.ts'

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

export const PipelineTrigger = z.enum([
  'manual',
  'api',
  'gitlab-push',
  'gitlab-tag',
  'rerun',
  'rollback',
  'scale',
  'redeploy',
])
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
  /** The stage's environment; `protected` decides who may deploy there and decide its canary. */
  environment: z.object({ id: Id, name: z.string(), protected: z.boolean() }).nullable(),
  status: StageStatus,
  attempt: z.number(),
  actor: z.string().nullable(),
  error: z.string().nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  queuedAt: Timestamp.nullable(),
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  /** For a queued stage: 1 = next to run among stages waiting for the same resource. */
  queuePosition: z.number().nullable(),
  /** For a deploy stage run as a canary: its release's canary as it stands. */
  canary: CanaryState.nullable(),
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

export const DecisionBody = z.object({ comment: z.string().trim().min(1, 'say why').max(2000) }).strict()

export const ApprovalRecord = z.object({
  id: Id,
  userId: Id,
  user: z.string(),
  decision: z.enum(['approved', 'rejected']),
  comment: z.string(),
  digest: z.string().nullable(),
  createdAt: Timestamp,
  /** Older than the environment's approval time limit: it no longer counts. */
  expired: z.boolean(),
})
export type ApprovalRecord = z.infer<typeof ApprovalRecord>

/** What an approver sees: what exactly is being promoted, and the state of the stage. */
export const ApprovalState = z.object({
  stageId: Id,
  environment: z.string(),
  status: StageStatus,
  required: z.number(),
  approvals: z.array(ApprovalRecord),
  commitSha: z.string(),
  ref: z.string(),
  imageDigest: z.string().nullable(),
  allowSelfApproval: z.boolean(),
  triggeredBy: z.string().nullable(),
  triggeredByUserId: Id.nullable(),
  /**
   * A protected environment whose pipeline was started by someone who may not deploy there (or
   * by GitLab): one of the approvals must come from someone who may (maintainer or admin).
   */
  waitsForDeployer: z.boolean(),
})

export const LogQuery = z.object({
  /** Lines after this sequence number (0 = from the start). */
  after: z.coerce.number().int().min(0).default(0),
  /**
   * Lines per page, at most 10,000 (a page also stops at about 2 MiB of text: page on from
   * `lastSeq` until `complete`, or until a page comes back empty).
   */
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
})

/** [seq, epoch ms, text] */
export const LogLine = z.tuple([z.number(), z.number(), z.string()])
export const LogPage = z.object({ lines: z.array(LogLine), lastSeq: z.number(), complete: z.boolean() })
