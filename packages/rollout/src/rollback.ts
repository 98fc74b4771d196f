import { buildBatches, type Slot } from './batches.ts'
import { interleave } from './placement.ts'
import type { SimulatedInstance } from './simulate.ts'
import type { ExistingInstance, PlanBatch, PlannedRetire, RolloutPlan } from './types.ts'

/** A new instance of the failed rollout that exists now. */
export interface StartedInstance extends ExistingInstance {
  /** True once it was healthy and added to the gateway. */
  serving: boolean
}

/** Where a failed rollout stands: what it started and what it already retired. */
export interface RollbackState {
  started: readonly StartedInstance[]
  retired: readonly PlannedRetire[]
}

export interface RestoreInput {
  /** Every instance running now, the failed rollout's included, with whether it serves. */
  live: readonly SimulatedInstance[]
  /** Ids of `live` instances the failed rollout started: they all leave. */
  started: readonly string[]
  /** Instances the failed rollout retired: each comes back on its host and release. */
  retired: readonly PlannedRetire[]
  /** Host order for the restores (others follow in order of appearance). */
  hosts: readonly string[]
  /** Hosts restores may go to (default: any); a host found down is left out. */
  allowedHosts?: readonly string[]
  batchSize: number
  maxSurge: number
  maxUnavailable: number
  /** Prefix of restored instance ids per release (default `<release>-`). */
  idPrefix?: (release: string) => string
}

export interface RollbackPlan {
  /** Retired instances brought back (same host and release, new ids). */
  restore: PlannedRetire[]
  batches: PlanBatch[]
}

/**
 * Undoes a failed rollout from where it stands: every old instance it retired comes back
 * (same host, same release, a new id) and every instance it started leaves. New instances
 * that never served leave first; the serving ones leave only after the restored ones are
 * healthy, batch by batch, so the previous release keeps serving throughout.
 */
export function planRestore(input: RestoreInput): RollbackPlan {
  const allowed = input.allowedHosts ? new Set(input.allowedHosts) : undefined
  const restore = input.retired.filter((old) => !allowed || allowed.has(old.host))
  const startedIds = new Set(input.started)
  const taken = new Set<string>([...input.live.map((i) => i.id), ...input.retired.map((i) => i.id)])
  const counters = new Map<string, number>()
  const nextId = (release: string): string => {
    const prefix = input.idPrefix?.(release) ?? `${release}-`
    let id: string
    do {
      const n = (counters.get(prefix) ?? 0) + 1
      counters.set(prefix, n)
      id = `${prefix}${n}`
    } while (taken.has(id))
    taken.add(id)
    return id
  }

  const ours = input.live.filter((i) => startedIds.has(i.id))
  const leaving = (i: SimulatedInstance): PlannedRetire => ({
    id: i.id,
    host: i.host,
    release: i.release,
    reason: 'rolled-back',
  })
  const discard = ours.filter((i) => !i.serving).map(leaving)
  const serving = ours.filter((i) => i.serving).map(leaving)

  const hostOrder = [...input.hosts]
  for (const old of restore) if (!hostOrder.includes(old.host)) hostOrder.push(old.host)
  const slotsByHost = new Map<string, Slot[]>()
  for (const old of restore) {
    const own = serving.findIndex((instance) => instance.host === old.host)
    const [partner] = own >= 0 ? serving.splice(own, 1) : serving.splice(0, 1)
    const start = {
      id: '',
      host: old.host,
      release: old.release,
      ...(partner ? { replaces: partner.id } : {}),
    }
    const list = slotsByHost.get(old.host) ?? []
    list.push(partner ? { start, old: partner } : { start })
    slotsByHost.set(old.host, list)
  }
  const slots = interleave(hostOrder, slotsByHost)
  for (const slot of slots) slot.start.id = nextId(slot.start.release)

  const others = input.live.filter((i) => !startedIds.has(i.id))
  const before = others.length + restore.length
  const servingNow = input.live.filter((i) => i.serving).length
  const runningNow = input.live.length - discard.length
  const batches = buildBatches(
    slots,
    serving,
    {
      batchSize: input.batchSize,
      minServing: Math.max(0, Math.min(servingNow, before) - input.maxUnavailable),
      // The rollout had `live` running at once; a rollback may always go one above that.
      maxRunning: Math.max(input.live.length, before) + Math.max(1, input.maxSurge),
    },
    { running: runningNow, serving: servingNow },
  )
  if (discard.length > 0) {
    const first = batches[0]
    if (first) first.retireFirst.unshift(...discard)
    else batches.push({ index: 0, retireFirst: discard, start: [], retire: [] })
  }
  return { restore, batches }
}

/** Rolls back `plan` from `state` (see `stateAtFailure`): `planRestore` with the plan's limits. */
export function planRollback(plan: RolloutPlan, state: RollbackState): RollbackPlan {
  const retiredIds = new Set(state.retired.map((i) => i.id))
  const stillOld = plan.batches
    .flatMap((b) => [...b.retireFirst, ...b.retire])
    .filter((old) => !retiredIds.has(old.id))
  return planRestore({
    live: [...plan.keep, ...stillOld]
      .map((i) => ({ id: i.id, host: i.host, release: i.release, serving: true }))
      .concat(state.started),
    started: state.started.map((i) => i.id),
    retired: state.retired,
    hosts: plan.hosts,
    batchSize: plan.batchSize,
    maxSurge: plan.maxSurge,
    maxUnavailable: plan.maxUnavailable,
  })
}

/**
 * The state of a rollout that failed in batch `k` after starting its instances: batches
 * before `k` are done (their instances serve, their old instances are gone), batch `k`
 * retired its `retireFirst` and started instances that never became healthy.
 */
export function stateAtFailure(plan: RolloutPlan, k: number): RollbackState {
  const done = plan.batches.slice(0, k)
  const failed = plan.batches[k]
  return {
    started: [
      ...done.flatMap((b) =>
        b.start.map((s) => ({ id: s.id, host: s.host, release: s.release, serving: true })),
      ),
      ...(failed?.start ?? []).map((s) => ({ id: s.id, host: s.host, release: s.release, serving: false })),
    ],
    retired: [...done.flatMap((b) => [...b.retireFirst, ...b.retire]), ...(failed?.retireFirst ?? [])],
  }
}
