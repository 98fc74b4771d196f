import { buildBatches, type Slot } from './batches.ts'
import { interleave, placeReplicas } from './placement.ts'
import { resolveBatchSize, resolveCount } from './sizes.ts'
import {
  type ExistingInstance,
  PlanError,
  type PlanInput,
  type PlannedRetire,
  type RolloutPlan,
} from './types.ts'

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

function validate(input: PlanInput): void {
  if (!Number.isInteger(input.replicas) || input.replicas < 0)
    throw new PlanError(`replicas must be a whole number >= 0 (got ${input.replicas})`)
  if (new Set(input.hosts).size !== input.hosts.length) throw new PlanError('hosts are listed twice')
  const ids = new Set<string>()
  for (const instance of input.instances) {
    if (ids.has(instance.id)) throw new PlanError(`instance ${instance.id} is listed twice`)
    ids.add(instance.id)
  }
}

/** Yields `<prefix><n>` ids that no instance uses yet. */
function idSource(prefix: string, taken: Set<string>): () => string {
  let n = 0
  return () => {
    let id: string
    do id = `${prefix}${++n}`
    while (taken.has(id))
    taken.add(id)
    return id
  }
}

/**
 * Plans a rollout to `input.release` with `input.replicas` instances: which hosts pull the
 * image, then ordered batches of starts and retirements. Pure and deterministic (the order
 * of `instances` does not matter). The same call scales (same release: only the difference
 * is started or retired), moves instances off removed or excluded hosts, and rolls back to
 * an older release (another release id). Throws `PlanError` on input it cannot plan.
 */
export function planRollout(input: PlanInput): RolloutPlan {
  validate(input)
  const excluded = new Set(input.excludedHosts ?? [])
  const hosts = input.hosts.filter((host) => !excluded.has(host))
  const replicas = input.replicas
  if (replicas > 0 && hosts.length === 0)
    throw new PlanError(`no host left to run ${replicas} instance(s) of ${input.release}`)
  const instances = [...input.instances].sort(byId)
  const eligible = new Set(hosts)

  const targetCount = new Map<string, number>()
  for (const instance of instances)
    if (instance.release === input.release && eligible.has(instance.host))
      targetCount.set(instance.host, (targetCount.get(instance.host) ?? 0) + 1)
  const placement = placeReplicas(hosts, replicas, targetCount)

  const keep: ExistingInstance[] = []
  const oldByHost = new Map<string, PlannedRetire[]>()
  const offHost: PlannedRetire[] = []
  const deficit = new Map<string, number>()
  for (const host of hosts) {
    const here = instances.filter((instance) => instance.host === host)
    const same = here.filter((instance) => instance.release === input.release)
    const kept = same.slice(0, placement[host])
    keep.push(...kept)
    deficit.set(host, (placement[host] ?? 0) - kept.length)
    oldByHost.set(host, [
      ...here
        .filter((instance) => instance.release !== input.release)
        .map((instance): PlannedRetire => ({ ...instance, reason: 'replaced' })),
      ...same.slice(kept.length).map((instance): PlannedRetire => ({ ...instance, reason: 'surplus' })),
    ])
  }
  const hostOrder = new Map(input.hosts.map((host, index) => [host, index]))
  for (const instance of instances)
    if (!eligible.has(instance.host)) offHost.push({ ...instance, reason: 'host-removed' })
  offHost.sort(
    (a, b) =>
      (hostOrder.get(a.host) ?? Number.MAX_SAFE_INTEGER) -
        (hostOrder.get(b.host) ?? Number.MAX_SAFE_INTEGER) ||
      (a.host < b.host ? -1 : a.host > b.host ? 1 : byId(a, b)),
  )

  // New instances take over from old ones on their own host first, then from the pool of
  // old instances nobody on their host replaces (removed hosts first).
  const nextId = idSource(input.idPrefix ?? `${input.release}-`, new Set(instances.map((i) => i.id)))
  const pool: PlannedRetire[] = [
    ...offHost,
    ...hosts.flatMap((host) => (oldByHost.get(host) ?? []).slice(deficit.get(host) ?? 0)),
  ]
  const slotsByHost = new Map<string, Slot[]>()
  for (const host of hosts) {
    const own = oldByHost.get(host) ?? []
    const count = deficit.get(host) ?? 0
    const additions: Slot[] = []
    const replacements: Slot[] = []
    for (let i = 0; i < count; i++) {
      const old = own[i] ?? pool.shift()
      const start = { id: '', host, release: input.release }
      if (old) replacements.push({ start: { ...start, replaces: old.id }, old })
      else additions.push({ start })
    }
    slotsByHost.set(host, [...additions, ...replacements])
  }
  const slots = interleave(hosts, slotsByHost)
  for (const slot of slots) slot.start.id = nextId()

  const batchSize = resolveBatchSize(input.strategy.batchSize, replicas)
  const maxSurge = resolveCount(input.strategy.maxSurge, replicas, 'ceil')
  const maxUnavailable = resolveCount(input.strategy.maxUnavailable, replicas, 'floor')
  const running = instances.length
  const minServing = Math.max(0, Math.min(running, replicas) - maxUnavailable)
  const maxRunning = Math.max(replicas, running) + maxSurge
  const batches = buildBatches(
    slots,
    pool,
    { batchSize, minServing, maxRunning },
    { running, serving: running },
  )

  return {
    release: input.release,
    replicas,
    hosts,
    placement,
    prePull: hosts.filter((host) => (deficit.get(host) ?? 0) > 0),
    keep,
    batches,
    batchSize,
    maxSurge,
    maxUnavailable,
    minServing,
    maxRunning,
  }
}
