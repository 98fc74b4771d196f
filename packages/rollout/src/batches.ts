import { type PlanBatch, PlanError, type PlannedRetire, type PlannedStart } from './types.ts'

/** A new instance to start and the old one it takes over from (if any). */
export interface Slot {
  start: PlannedStart
  old?: PlannedRetire
}

export interface BatchLimits {
  /** New instances started per batch, at most. */
  batchSize: number
  /** Serving instances never drop below this. */
  minServing: number
  /** Running instances never exceed this while new ones start. */
  maxRunning: number
}

/**
 * Cuts the start sequence into batches and decides when each old instance leaves: after the
 * batch's new instances are healthy, or before them when `maxRunning` leaves no room (only
 * as far as `minServing` allows). `leftovers` (old instances nobody replaces) leave at the
 * end, after every new instance is healthy, or first when they make room.
 */
export function buildBatches(
  slots: readonly Slot[],
  leftovers: readonly PlannedRetire[],
  limits: BatchLimits,
  initial: { running: number; serving: number },
): PlanBatch[] {
  const batches: PlanBatch[] = []
  const spare = [...leftovers]
  let { running, serving } = initial
  let next = 0
  while (next < slots.length) {
    const wanted = Math.min(limits.batchSize, slots.length - next)
    let size = wanted
    let need = 0
    for (; size >= 1; size--) {
      need = Math.max(0, running + size - limits.maxRunning)
      const paired = slots.slice(next, next + size).filter((slot) => slot.old).length
      if (need <= Math.min(serving - limits.minServing, spare.length + paired)) break
    }
    if (size < 1) {
      throw new PlanError(
        `no room to start an instance: ${running} running may not exceed ${limits.maxRunning} ` +
          `and ${serving} serving may not drop below ${limits.minServing} (raise maxSurge or maxUnavailable)`,
      )
    }
    const chunk = slots.slice(next, next + size)
    const retireFirst = spare.splice(0, need)
    const paired = chunk.flatMap((slot) => (slot.old ? [slot.old] : []))
    retireFirst.push(...paired.splice(0, need - retireFirst.length))
    running -= retireFirst.length
    serving -= retireFirst.length
    running += chunk.length
    serving += chunk.length
    running -= paired.length
    serving -= paired.length
    batches.push({
      index: batches.length,
      retireFirst,
      start: chunk.map((slot) => slot.start),
      retire: paired,
    })
    next += size
  }
  if (spare.length > 0) {
    const last = batches.at(-1)
    if (last) last.retire.push(...spare)
    else batches.push({ index: 0, retireFirst: [], start: [], retire: spare })
  }
  return batches
}
