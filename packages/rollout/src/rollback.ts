import { buildBatches, type Slot } from './batches.ts'
import { interleave } from './placement.ts'
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

export interface RollbackPlan {
  /** Old instances brought back, one per retired instance, on its host and release. */
  restore: PlannedRetire[]
  batches: PlanBatch[]
}

/**
 * Undoes a failed rollout: every old instance it retired comes back (same host, same
 * release, a new id), and every instance it started leaves. New instances that never served
 * leave first; the ones serving leave only after the restored ones are healthy, batch by
 * batch, so the previous release keeps serving throughout. `hosts` narrows where instances
 * may be restored (a host found down is left out).
 */
export function planRollback(
  plan: RolloutPlan,
  state: RollbackState,
  options: { hosts?: readonly string[]; idPrefix?: (release: string) => string } = {},
): RollbackPlan {
  const allowed = options.hosts ? new Set(options.hosts) : undefined
  const restore = state.retired.filter((old) => !allowed || allowed.has(old.host))
  const taken = new Set<string>([
    ...plan.keep.map((i) => i.id),
    ...plan.batches.flatMap((b) => [...b.retireFirst, ...b.start, ...b.retire].map((i) => i.id)),
    ...state.started.map((i) => i.id),
    ...state.retired.map((i) => i.id),
  ])
  const counters = new Map<string, number>()
  const nextId = (release: string): string => {
    const prefix = options.idPrefix?.(release) ?? `${release}-`
    let id: string
    do {
      const n = (counters.get(prefix) ?? 0) + 1
      counters.set(prefix, n)
      id = `${prefix}${n}`
    } while (taken.has(id))
    taken.add(id)
    return id
  }

  const leaving = (instance: StartedInstance): PlannedRetire => ({
    id: instance.id,
    host: instance.host,
    release: instance.release,
    reason: 'rolled-back',
  })
  const discard = state.started.filter((i) => !i.serving).map(leaving)
  const serving = state.started.filter((i) => i.serving).map(leaving)

  const hostOrder = [...plan.hosts]
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

  const retiredIds = new Set(state.retired.map((i) => i.id))
  const stillOld = plan.batches
    .flatMap((b) => [...b.retireFirst, ...b.retire])
    .filter((old) => !retiredIds.has(old.id)).length
  const before = plan.keep.length + stillOld + state.retired.length
  const servingNow = plan.keep.length + stillOld + state.started.filter((i) => i.serving).length
  const runningNow = plan.keep.length + stillOld + state.started.length - discard.length
  const batches = buildBatches(
    slots,
    serving,
    {
      batchSize: plan.batchSize,
      minServing: Math.max(0, Math.min(servingNow, before) - plan.maxUnavailable),
      maxRunning: Math.max(runningNow, before) + plan.maxSurge,
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
