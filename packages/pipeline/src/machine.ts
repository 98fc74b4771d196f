import type { PipelineStatus, StageKind, StageStatus } from '@slipway/contracts'

/**
 * The one state machine for stages. Every status change of a stage in the database goes
 * through `transition`; anything else is refused with the reason.
 */
export const stageEvents = [
  /** The orchestrator hands the stage to a worker queue. */
  'enqueue',
  /** A worker took the stage (lease acquired). */
  'start',
  'succeed',
  'fail',
  /** Back to the queue without failing: the worker died or a transient error has tries left. */
  'release',
  /** An approval stage starts waiting for people. */
  'await',
  'approve',
  'reject',
  'cancel',
  /** Not run because an earlier stage failed or the pipeline was canceled. */
  'skip',
  /** A person retries a failed, canceled or skipped stage: it runs again when its turn comes. */
  'retry',
] as const
export type StageEvent = (typeof stageEvents)[number]

export type Transition = { ok: true; to: StageStatus } | { ok: false; reason: string }

const table: Record<StageStatus, Partial<Record<StageEvent, StageStatus>>> = {
  pending: { enqueue: 'queued', await: 'waiting', cancel: 'canceled', skip: 'skipped' },
  queued: { start: 'running', cancel: 'canceled', fail: 'failed', skip: 'skipped' },
  running: { succeed: 'succeeded', fail: 'failed', release: 'queued', cancel: 'canceled' },
  waiting: { approve: 'succeeded', reject: 'failed', cancel: 'canceled', fail: 'failed' },
  succeeded: {},
  failed: { retry: 'pending' },
  canceled: { retry: 'pending' },
  skipped: { retry: 'pending' },
}

/** Events that only make sense for some kinds of stage. */
function allowedFor(kind: StageKind, event: StageEvent): boolean {
  switch (event) {
    case 'await':
    case 'approve':
    case 'reject':
      return kind === 'approval'
    case 'enqueue':
    case 'start':
    case 'succeed':
    case 'release':
      return kind !== 'approval'
    default:
      return true
  }
}

export function transition(kind: StageKind, from: StageStatus, event: StageEvent): Transition {
  if (!allowedFor(kind, event)) return { ok: false, reason: `a ${kind} stage cannot ${event}` }
  const to = table[from][event]
  if (!to) return { ok: false, reason: `cannot ${event} a stage that is ${from}` }
  return { ok: true, to }
}

export const terminalStageStatuses: readonly StageStatus[] = ['succeeded', 'failed', 'canceled', 'skipped']

export function isTerminal(status: StageStatus): boolean {
  return terminalStageStatuses.includes(status)
}

/**
 * A pipeline's status follows from its stages: failed or canceled once one stage is and
 * nothing is left to run or to skip, waiting while an approval waits, running while anything is
 * queued or running after the first stage started, succeeded when every stage succeeded
 * or was skipped.
 */
export function pipelineStatusOf(stages: readonly { status: StageStatus }[]): PipelineStatus {
  const has = (status: StageStatus) => stages.some((stage) => stage.status === status)
  const active = has('running') || has('queued') || has('waiting')
  // A failed or canceled pipeline is over once the stages after the failure are skipped too
  // (the orchestrator's next step): until then it still has work to do and says so.
  const settled = !active && !has('pending')
  if (settled && has('failed')) return 'failed'
  if (settled && has('canceled')) return 'canceled'
  if (has('running')) return 'running'
  if (has('waiting')) return 'waiting'
  if (stages.every((stage) => stage.status === 'succeeded' || stage.status === 'skipped')) return 'succeeded'
  const started = stages.some((stage) => stage.status !== 'pending' && stage.status !== 'queued')
  return started ? 'running' : 'queued'
}

export type NextStep =
  | { kind: 'none'; reason: string }
  | { kind: 'enqueue'; stageIndex: number }
  | { kind: 'await'; stageIndex: number }
  | { kind: 'finish'; status: PipelineStatus; skip: number[] }

/**
 * What the orchestrator does next with a pipeline whose stages are in order: start the
 * first pending stage once everything before it succeeded, or finish the pipeline (skipping
 * what will never run) once a stage failed or was canceled.
 */
export function nextStep(stages: readonly { kind: StageKind; status: StageStatus }[]): NextStep {
  for (let index = 0; index < stages.length; index++) {
    const stage = stages[index] as { kind: StageKind; status: StageStatus }
    switch (stage.status) {
      case 'succeeded':
      case 'skipped':
        continue
      case 'queued':
      case 'running':
        return { kind: 'none', reason: `stage ${index} is ${stage.status}` }
      case 'waiting':
        return { kind: 'none', reason: `stage ${index} waits for approval` }
      case 'pending':
        return stage.kind === 'approval'
          ? { kind: 'await', stageIndex: index }
          : { kind: 'enqueue', stageIndex: index }
      case 'failed':
      case 'canceled': {
        const skip = stages.flatMap((later, i) => (i > index && later.status === 'pending' ? [i] : []))
        return { kind: 'finish', status: stage.status, skip }
      }
      default: {
        const unknown: never = stage.status
        throw new Error(`unknown stage status ${String(unknown)}`)
      }
    }
  }
  return { kind: 'finish', status: 'succeeded', skip: [] }
}
