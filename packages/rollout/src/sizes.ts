import type { CountOrPercent, DeployStrategy } from '@slipway/contracts'

/**
 * Article 000's rule: fewer than 8 target instances -> one at a time; otherwise ceil(n / 8)
 * at a time, so that about 7/8 of the capacity keeps serving.
 */
export function autoBatchSize(targetInstances: number): number {
  return targetInstances < 8 ? 1 : Math.ceil(targetInstances / 8)
}

/** A count, or a percentage of `total` rounded up (`ceil`) or down (`floor`). */
export function resolveCount(value: CountOrPercent, total: number, round: 'ceil' | 'floor'): number {
  if (typeof value === 'number') return Math.max(0, Math.floor(value))
  const percent = Number(value.slice(0, -1))
  const exact = (total * percent) / 100
  // Guard against 0.1 + 0.2 style noise before rounding.
  const fixed = Math.round(exact * 1e9) / 1e9
  return round === 'ceil' ? Math.ceil(fixed) : Math.floor(fixed)
}

/** Instances started per batch: at least one. */
export function resolveBatchSize(batchSize: DeployStrategy['batchSize'], targetInstances: number): number {
  if (batchSize === 'auto') return autoBatchSize(targetInstances)
  return Math.max(1, resolveCount(batchSize, targetInstances, 'ceil'))
}
