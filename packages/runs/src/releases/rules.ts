import type { ReleaseStatus } from '@slipway/db'

/** Pipelines that exist to move an environment deliberately (they may go back in time). */
export const operationTriggers = new Set(['rollback', 'scale', 'redeploy'])

/** The kind a release of a pipeline with this trigger records. */
export function releaseKindOf(trigger: string): string {
  return operationTriggers.has(trigger) ? trigger : 'deploy'
}

/**
 * Whether a pipeline may replace what is live in an environment: an older pipeline never
 * replaces a newer release (operations may: they go back deliberately). A reason when not.
 */
export function deployRefusal(
  pipeline: { number: number; trigger: string },
  live: { pipelineNumber: number | null } | null,
  environmentName: string,
): string | null {
  if (operationTriggers.has(pipeline.trigger)) return null
  if (live?.pipelineNumber == null || live.pipelineNumber <= pipeline.number) return null
  return `refusing to deploy pipeline #${pipeline.number} over #${live.pipelineNumber}, which is already live in ${environmentName}; roll back deliberately instead`
}

/**
 * Whether an environment may roll back to `target`: only to a release that went live, and
 * not to the one live now. A reason when not.
 */
export function rollbackRefusal(
  target: { id: string; number: number; status: ReleaseStatus },
  live: { id: string } | null,
): string | null {
  if (target.status !== 'superseded' && target.status !== 'live')
    return `release #${target.number} never went live (${target.status}); pick one that did`
  if (live && target.id === live.id) return `release #${target.number} is already live`
  return null
}
