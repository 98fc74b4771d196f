import type { WorkerDeps } from '../deps.ts'
import type { Processor } from '../runtime.ts'

/**
 * `stages.reap`, every few seconds: the guarantee that no pipeline stays "running" forever
 * (the rules are `Runs.reapStages`'): a running stage whose worker stopped renewing its lease
 * is released for another attempt or failed after its last; lost jobs are sent again;
 * expired deploy leases are removed.
 */
export function reapStages(deps: WorkerDeps): Processor<'stages.reap'> {
  return async (_payload, { log }) => {
    const result = await deps.runs.reapStages()
    const { released, failed, requeued, advanced } = result
    if (released || failed || requeued || advanced) {
      log.info({ released, failed, requeued, advanced }, 'reaped stages')
    }
    return result
  }
}
