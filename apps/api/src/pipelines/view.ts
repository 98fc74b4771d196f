import {
  CanaryCommandRecord,
  CanaryState,
  type Pipeline as PipelineContract,
  type PipelineTrigger,
  type Stage as StageContract,
} from '@slipway/contracts'
import { type Db, type Environment, type Pipeline, Prisma, type Stage } from '@slipway/db'

export type PipelineRow = Pipeline & {
  stages: (Stage & { environment: Pick<Environment, 'id' | 'name' | 'protected'> | null })[]
}

export const pipelineInclude = {
  stages: {
    orderBy: { position: 'asc' },
    include: { environment: { select: { id: true, name: true, protected: true } } },
  },
} as const

export interface ViewContext {
  /** user id -> email */
  names: Map<string, string>
  /** stage id -> position among queued stages waiting for the same resource */
  queue: Map<string, number>
  /** `${pipelineId} ${environmentId}` -> the canary of the release its deploy made */
  canaries: Map<string, CanaryState>
}

/**
 * The canaries of these pipelines' deploys: each release's stored state with the last command
 * a person gave it (a release whose state does not parse is shown without one). The chart's
 * samples (up to 1,200 a canary) only when one pipeline is viewed, not in lists.
 */
async function canaries(db: Db, rows: PipelineRow[]): Promise<Map<string, CanaryState>> {
  if (!rows.some((row) => row.stages.some((stage) => stage.kind === 'deploy'))) return new Map()
  const releases = await db.release.findMany({
    where: { pipelineId: { in: rows.map((row) => row.id) }, canary: { not: Prisma.DbNull } },
    orderBy: { number: 'asc' },
    select: { pipelineId: true, environmentId: true, canary: true, canaryCommand: true },
  })
  const found = new Map<string, CanaryState>()
  for (const release of releases) {
    const state = CanaryState.safeParse(release.canary)
    if (!state.success) continue
    const command = CanaryCommandRecord.safeParse(release.canaryCommand)
    found.set(`${release.pipelineId} ${release.environmentId}`, {
      ...state.data,
      samples: rows.length === 1 ? state.data.samples : [],
      command: command.success ? command.data : null,
    })
  }
  return found
}

/** Position of each queued stage: builds share the build queue, deploys queue per environment. */
async function queuePositions(db: Db, rows: PipelineRow[]): Promise<Map<string, number>> {
  const queued = rows
    .flatMap((row) => row.stages)
    .filter((stage) => stage.status === 'queued' && stage.queuedAt)
  if (!queued.length) return new Map()
  const positions = await db.$queryRaw<{ id: string; position: bigint }[]>`
    SELECT s.id, 1 + (
      SELECT count(*) FROM "Stage" q
      WHERE q.status = 'queued' AND q.kind = s.kind AND q."queuedAt" < s."queuedAt"
        AND (s.kind <> 'deploy' OR q."environmentId" = s."environmentId")
    ) AS position
    FROM "Stage" s WHERE s.id = ANY(${queued.map((stage) => stage.id)}::uuid[])`
  return new Map(positions.map((row) => [row.id, Number(row.position)]))
}

/** Who acted (emails) and queue positions, for viewing these pipelines. */
export async function viewContext(db: Db, rows: PipelineRow[]): Promise<ViewContext> {
  const [names, queue, canaryStates] = await Promise.all([
    actorNames(db, rows),
    queuePositions(db, rows),
    canaries(db, rows),
  ])
  return { names, queue, canaries: canaryStates }
}

/** Emails of the users named on these pipelines and stages, to show who acted. */
async function actorNames(db: Db, rows: PipelineRow[]): Promise<Map<string, string>> {
  const ids = new Set<string>()
  for (const row of rows) {
    if (row.actorUserId) ids.add(row.actorUserId)
    for (const stage of row.stages) if (stage.actorUserId) ids.add(stage.actorUserId)
  }
  const users = ids.size
    ? await db.user.findMany({ where: { id: { in: [...ids] } }, select: { id: true, email: true } })
    : []
  return new Map(users.map((user) => [user.id, user.email]))
}

function stageView(
  stage: PipelineRow['stages'][number],
  { names, queue, canaries: canaryStates }: ViewContext,
): StageContract {
  return {
    id: stage.id,
    position: stage.position,
    kind: stage.kind,
    environment: stage.environment,
    status: stage.status,
    attempt: stage.attempt,
    actor: stage.actorUserId ? (names.get(stage.actorUserId) ?? null) : null,
    error: stage.error,
    result: (stage.result as Record<string, unknown> | null) ?? null,
    queuedAt: stage.queuedAt,
    startedAt: stage.startedAt,
    finishedAt: stage.finishedAt,
    queuePosition: queue.get(stage.id) ?? null,
    canary:
      stage.kind === 'deploy' && stage.environmentId
        ? (canaryStates.get(`${stage.pipelineId} ${stage.environmentId}`) ?? null)
        : null,
  }
}

export function pipelineView(row: PipelineRow, context: ViewContext): PipelineContract {
  const { names } = context
  return {
    id: row.id,
    projectId: row.projectId,
    number: row.number,
    ref: row.ref,
    commitSha: row.commitSha,
    commitTitle: row.commitTitle,
    trigger: row.trigger as PipelineTrigger,
    actor: row.actorUserId
      ? (names.get(row.actorUserId) ?? null)
      : row.trigger.startsWith('gitlab')
        ? 'GitLab'
        : null,
    status: row.status,
    imageDigest: row.imageDigest,
    error: row.error,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    stages: row.stages.map((stage) => stageView(stage, context)),
  }
}
