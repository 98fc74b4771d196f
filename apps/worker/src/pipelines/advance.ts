import type { WorkerDeps } from '../deps.ts'
import type { Processor } from '../runtime.ts'

/** `pipeline.advance`: one orchestrator step, in one transaction with the pipeline locked. */
export function advance(deps: WorkerDeps): Processor<'pipeline.advance'> {
  return async ({ pipelineId }) => {
    const change = await deps.runs.advancePipeline(pipelineId)
    return { events: change.events.length }
  }
}
