import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { planRollout } from './plan.ts'
import { planRollback, stateAtFailure } from './rollback.ts'
import { type SimulatedInstance, simulate } from './simulate.ts'
import { resolveBatchSize, resolveCount } from './sizes.ts'
import { type ExistingInstance, PlanError, type PlanInput, type PlanStrategy } from './types.ts'

const releases = ['v1', 'v2', 'v3']
const hostNames = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6']
const gone = ['old-1', 'old-2']

const countOrPercent = (max: number) =>
  fc.oneof(
    fc.integer({ min: 0, max }),
    fc.integer({ min: 0, max: 100 }).map((p) => `${p}%`),
  )

const strategy: fc.Arbitrary<PlanStrategy> = fc.record({
  batchSize: fc.oneof(fc.constant('auto' as const), countOrPercent(10)),
  maxSurge: countOrPercent(6),
  maxUnavailable: countOrPercent(4),
})

const input: fc.Arbitrary<PlanInput> = fc
  .record({
    hostCount: fc.integer({ min: 1, max: hostNames.length }),
    excludedMask: fc.array(fc.boolean(), { minLength: hostNames.length, maxLength: hostNames.length }),
    instances: fc.array(
      fc.record({
        host: fc.constantFrom(...hostNames, ...gone),
        release: fc.constantFrom(...releases),
      }),
      { maxLength: 30 },
    ),
    release: fc.constantFrom(...releases),
    replicas: fc.integer({ min: 0, max: 30 }),
    strategy,
  })
  .map(({ hostCount, excludedMask, instances, release, replicas, strategy }) => {
    const hosts = hostNames.slice(0, hostCount)
    return {
      hosts,
      excludedHosts: hosts.filter((_, i) => excludedMask[i] && i % 2 === 1),
      instances: instances.map((instance, i) => ({ id: `${instance.release}-${i + 1}`, ...instance })),
      release,
      replicas,
      strategy,
    }
  })

/** Plans, or returns undefined when the planner refuses for one of the two legitimate reasons. */
function planOrRefusal(given: PlanInput) {
  try {
    return planRollout(given)
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError)
    const eligible = given.hosts.filter((h) => !given.excludedHosts?.includes(h))
    const noHost = given.replicas > 0 && eligible.length === 0
    const noRoom =
      resolveCount(given.strategy.maxSurge, given.replicas, 'ceil') === 0 &&
      resolveCount(given.strategy.maxUnavailable, given.replicas, 'floor') === 0
    expect(noHost || noRoom).toBe(true)
    return undefined
  }
}

const key = (i: { host: string; release: string }) => `${i.host}/${i.release}`

describe('planRollout properties', () => {
  it('replaces every old instance exactly once and ends with the desired replicas spread evenly', () => {
    fc.assert(
      fc.property(input, (given) => {
        const plan = planOrRefusal(given)
        if (!plan) return
        const retired = plan.batches.flatMap((b) => [...b.retireFirst, ...b.retire])
        const retiredIds = retired.map((r) => r.id)
        expect(new Set(retiredIds).size).toBe(retiredIds.length)
        for (const instance of given.instances)
          if (instance.release !== given.release) expect(retiredIds).toContain(instance.id)

        const run = simulate(given.instances, plan.batches)
        expect(run.problems).toEqual([])
        expect(run.final).toHaveLength(given.replicas)
        const eligible = given.hosts.filter((h) => !given.excludedHosts?.includes(h))
        for (const instance of run.final) {
          expect(instance.release).toBe(given.release)
          expect(eligible).toContain(instance.host)
        }
        const perHost = eligible.map((h) => run.final.filter((i) => i.host === h).length)
        expect(perHost).toEqual(eligible.map((h) => plan.placement[h]))
        if (perHost.length > 0) expect(Math.max(...perHost) - Math.min(...perHost)).toBeLessThanOrEqual(1)
        expect(plan.prePull).toEqual(
          eligible.filter((h) => plan.batches.some((b) => b.start.some((s) => s.host === h))),
        )
      }),
      { numRuns: 500 },
    )
  })

  it('keeps serving capacity within maxUnavailable and running instances within maxSurge', () => {
    fc.assert(
      fc.property(input, (given) => {
        const plan = planOrRefusal(given)
        if (!plan) return
        const n = given.replicas
        const existing = given.instances.length
        const floor = Math.max(
          0,
          Math.min(existing, n) - resolveCount(given.strategy.maxUnavailable, n, 'floor'),
        )
        const ceiling = Math.max(existing, n) + resolveCount(given.strategy.maxSurge, n, 'ceil')
        expect(plan.minServing).toBe(floor)
        expect(plan.maxRunning).toBe(ceiling)
        const run = simulate(given.instances, plan.batches)
        expect(run.lowestServing).toBeGreaterThanOrEqual(floor)
        expect(run.highestRunning).toBeLessThanOrEqual(ceiling)
        for (const batch of plan.batches)
          expect(batch.start.length).toBeLessThanOrEqual(resolveBatchSize(given.strategy.batchSize, n))
      }),
      { numRuns: 500 },
    )
  })

  it('is deterministic whatever the order of the instances', () => {
    fc.assert(
      fc.property(input, fc.integer(), (given, seed) => {
        const shuffled = [...given.instances]
          .map((instance, i) => ({ instance, sortKey: (i * 7919 + seed) % 10007 }))
          .sort((a, b) => a.sortKey - b.sortKey)
          .map((entry) => entry.instance)
        let first: unknown
        let second: unknown
        try {
          first = planRollout(given)
        } catch (error) {
          first = String(error)
        }
        try {
          second = planRollout({ ...given, instances: shuffled })
        } catch (error) {
          second = String(error)
        }
        expect(second).toEqual(first)
      }),
      { numRuns: 300 },
    )
  })

  it('rolls back a rollout that failed at any batch to exactly what ran before', () => {
    fc.assert(
      fc.property(input, fc.nat(), (given, pick) => {
        const plan = planOrRefusal(given)
        if (!plan || plan.batches.length === 0) return
        const k = pick % plan.batches.length
        const state = stateAtFailure(plan, k)
        const gone = new Set(state.retired.map((r) => r.id))
        const atFailure: SimulatedInstance[] = [
          ...given.instances.filter((i) => !gone.has(i.id)).map((i) => ({ ...i, serving: true })),
          ...state.started,
        ]
        const rollback = planRollback(plan, state)
        const run = simulate(atFailure, rollback.batches)
        expect(run.problems).toEqual([])
        expect(run.final.map(key).sort()).toEqual(given.instances.map(key).sort())
        const started = new Set(state.started.map((s) => s.id))
        for (const instance of run.final) expect(started.has(instance.id)).toBe(false)
        expect(run.highestRunning).toBeLessThanOrEqual(
          Math.max(atFailure.length, given.instances.length) + Math.max(1, plan.maxSurge),
        )
        const servingAtFailure = atFailure.filter((i) => i.serving).length
        expect(run.lowestServing).toBeGreaterThanOrEqual(
          Math.max(0, Math.min(servingAtFailure, given.instances.length) - plan.maxUnavailable),
        )
      }),
      { numRuns: 1000 },
    )
  })
})

describe('planRollback', () => {
  it('brings the previous release back on the hosts it ran on before removing the new one', () => {
    const instances: ExistingInstance[] = ['a', 'b', 'c'].map((host, i) => ({
      id: `v1-${i}`,
      host,
      release: 'v1',
    }))
    const plan = planRollout({
      hosts: ['a', 'b', 'c'],
      instances,
      release: 'v2',
      replicas: 3,
      strategy: { batchSize: 1, maxSurge: 1, maxUnavailable: 0 },
    })
    const rollback = planRollback(plan, stateAtFailure(plan, 2))
    expect(rollback.restore.map((r) => r.host)).toEqual(['a', 'b'])
    expect(rollback.batches[0]?.retireFirst.map((r) => r.id)).toEqual(['v2-3'])
    expect(
      rollback.batches.map((b) => [b.start.map((s) => `${s.host}/${s.release}`), b.retire.map((r) => r.id)]),
    ).toEqual([
      [['a/v1'], ['v2-1']],
      [['b/v1'], ['v2-2']],
    ])
  })
})
