import type { ExistingInstance, PlanBatch } from './types.ts'

export interface SimulatedInstance extends ExistingInstance {
  serving: boolean
}

export interface Simulation {
  /** Instances left when every batch succeeded. */
  final: ExistingInstance[]
  /** Lowest count of serving instances seen at any step. */
  lowestServing: number
  /** Highest count of running instances seen while new ones start. */
  highestRunning: number
  /** Steps that make no sense (retiring an unknown instance, starting a duplicate id). */
  problems: string[]
}

/**
 * Runs batches on paper, the way the executor runs them on hosts: `retireFirst`, then
 * `start` (running but not serving until healthy), then `retire`. Used to check plans.
 */
export function simulate(
  initial: readonly (ExistingInstance | SimulatedInstance)[],
  batches: readonly PlanBatch[],
): Simulation {
  const live = new Map<string, SimulatedInstance>(
    initial.map((i) => [
      i.id,
      { id: i.id, host: i.host, release: i.release, serving: 'serving' in i ? i.serving : true },
    ]),
  )
  const problems: string[] = []
  const servingCount = () => [...live.values()].filter((i) => i.serving).length
  let lowestServing = servingCount()
  let highestRunning = 0
  const retire = (batch: PlanBatch, list: readonly ExistingInstance[]) => {
    for (const old of list) {
      const found = live.get(old.id)
      if (!found) problems.push(`batch ${batch.index} retires ${old.id}, which is not running`)
      else if (found.host !== old.host || found.release !== old.release)
        problems.push(`batch ${batch.index} retires ${old.id} with the wrong host or release`)
      live.delete(old.id)
    }
    lowestServing = Math.min(lowestServing, servingCount())
  }
  for (const batch of batches) {
    retire(batch, batch.retireFirst)
    for (const start of batch.start) {
      if (live.has(start.id)) problems.push(`batch ${batch.index} starts ${start.id}, which already runs`)
      live.set(start.id, { id: start.id, host: start.host, release: start.release, serving: false })
    }
    if (batch.start.length > 0) highestRunning = Math.max(highestRunning, live.size)
    for (const start of batch.start) {
      const started = live.get(start.id)
      if (started) started.serving = true
    }
    retire(batch, batch.retire)
  }
  const final = [...live.values()].map(({ id, host, release }) => ({ id, host, release }))
  return { final, lowestServing, highestRunning, problems }
}
