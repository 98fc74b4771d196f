import { describe, expect, it } from 'vitest'
import { planRollout } from './plan.ts'
import { simulate } from './simulate.ts'
import { autoBatchSize, resolveBatchSize, resolveCount } from './sizes.ts'
import { type ExistingInstance, PlanError, type PlanStrategy } from './types.ts'

const strategy: PlanStrategy = { batchSize: 'auto', maxSurge: '100%', maxUnavailable: 0 }

function spread(release: string, hosts: string[], perHost: number): ExistingInstance[] {
  return hosts.flatMap((host) =>
    Array.from({ length: perHost }, (_, i) => ({ id: `${release}-${host}-${i}`, host, release })),
  )
}

const count = (list: readonly { host: string }[], host: string) => list.filter((i) => i.host === host).length

describe('batch sizes (article 000)', () => {
  it('is one at a time below 8 instances, ceil(n/8) from 8 on', () => {
    expect([1, 6, 7, 8, 9, 16, 17, 28, 64].map(autoBatchSize)).toEqual([1, 1, 1, 1, 2, 2, 3, 4, 8])
  })

  it('resolves counts and percentages', () => {
    expect(resolveCount('25%', 10, 'ceil')).toBe(3)
    expect(resolveCount('25%', 10, 'floor')).toBe(2)
    expect(resolveCount('10%', 30, 'floor')).toBe(3)
    expect(resolveCount(4, 10, 'floor')).toBe(4)
    expect(resolveBatchSize('0%', 10)).toBe(1)
    expect(resolveBatchSize(3, 10)).toBe(3)
  })
})

describe('planRollout', () => {
  it('replaces 6 instances over 3 hosts one at a time, each on its own host, touching hosts in turn', () => {
    const plan = planRollout({
      hosts: ['a', 'b', 'c'],
      instances: spread('v1', ['a', 'b', 'c'], 2),
      release: 'v2',
      replicas: 6,
      strategy,
    })
    expect(plan.prePull).toEqual(['a', 'b', 'c'])
    expect(plan.batches.map((b) => b.start.map((s) => s.host).join())).toEqual(['a', 'b', 'c', 'a', 'b', 'c'])
    for (const batch of plan.batches) {
      expect(batch.retireFirst).toEqual([])
      expect(batch.retire).toHaveLength(1)
      expect(batch.retire[0]?.host).toBe(batch.start[0]?.host)
      expect(batch.start[0]?.replaces).toBe(batch.retire[0]?.id)
    }
    expect(plan.batches.map((b) => b.start[0]?.id)).toEqual(['v2-1', 'v2-2', 'v2-3', 'v2-4', 'v2-5', 'v2-6'])
    expect(plan.minServing).toBe(6)
  })

  it('does 28 instances over 4 hosts in 7 batches of 4, one per host', () => {
    const hosts = ['h1', 'h2', 'h3', 'h4']
    const plan = planRollout({
      hosts,
      instances: spread('v1', hosts, 7),
      release: 'v2',
      replicas: 28,
      strategy,
    })
    expect(plan.batchSize).toBe(4)
    expect(plan.batches).toHaveLength(7)
    for (const batch of plan.batches) expect(batch.start.map((s) => s.host).sort()).toEqual(hosts)
  })

  it('scales up and down by the difference only', () => {
    const hosts = ['a', 'b', 'c']
    const up = planRollout({ hosts, instances: spread('v1', hosts, 1), release: 'v1', replicas: 5, strategy })
    expect(up.keep).toHaveLength(3)
    expect(up.batches.flatMap((b) => b.start).map((s) => s.host)).toEqual(['a', 'b'])
    expect(up.batches.flatMap((b) => [...b.retire, ...b.retireFirst])).toEqual([])

    const down = planRollout({
      hosts,
      instances: spread('v1', hosts, 2),
      release: 'v1',
      replicas: 2,
      strategy,
    })
    expect(down.batches).toHaveLength(1)
    expect(down.batches[0]?.start).toEqual([])
    expect(down.batches[0]?.retire.map((r) => r.reason)).toEqual(['surplus', 'surplus', 'surplus', 'surplus'])
    const final = simulate(spread('v1', hosts, 2), down.batches).final
    expect(final).toHaveLength(2)
    expect(new Set(final.map((i) => i.host)).size).toBe(2)
  })

  it('moves instances off a removed host and gives a returning host its share', () => {
    const removed = planRollout({
      hosts: ['a', 'b'],
      instances: spread('v1', ['a', 'b', 'c'], 2),
      release: 'v1',
      replicas: 6,
      strategy,
    })
    expect(removed.batches.flatMap((b) => b.start).map((s) => s.host)).toEqual(['a', 'b'])
    expect(removed.batches.flatMap((b) => b.retire).map((r) => [r.host, r.reason])).toEqual([
      ['c', 'host-removed'],
      ['c', 'host-removed'],
    ])

    const back = planRollout({
      hosts: ['a', 'b', 'c'],
      instances: spread('v1', ['a', 'b'], 3),
      release: 'v1',
      replicas: 6,
      strategy,
    })
    const starts = back.batches.flatMap((b) => b.start)
    expect(starts.map((s) => s.host)).toEqual(['c', 'c'])
    expect(back.batches.flatMap((b) => b.retire).map((r) => r.reason)).toEqual(['surplus', 'surplus'])
    const final = simulate(spread('v1', ['a', 'b'], 3), back.batches).final
    expect(['a', 'b', 'c'].map((h) => count(final, h))).toEqual([2, 2, 2])
  })

  it('leaves an excluded host out and retires what ran there', () => {
    const plan = planRollout({
      hosts: ['a', 'b', 'c'],
      excludedHosts: ['b'],
      instances: spread('v1', ['a', 'b', 'c'], 1),
      release: 'v2',
      replicas: 3,
      strategy,
    })
    expect(plan.prePull).toEqual(['a', 'c'])
    expect(plan.placement).toEqual({ a: 2, c: 1 })
    const final = simulate(spread('v1', ['a', 'b', 'c'], 1), plan.batches).final
    expect(final.map((i) => [i.host, i.release]).sort()).toEqual([
      ['a', 'v2'],
      ['a', 'v2'],
      ['c', 'v2'],
    ])
  })

  it('retires before starting when maxSurge is 0, within maxUnavailable', () => {
    const hosts = ['a', 'b']
    const instances = spread('v1', hosts, 2)
    const plan = planRollout({
      hosts,
      instances,
      release: 'v2',
      replicas: 4,
      strategy: { batchSize: 'auto', maxSurge: 0, maxUnavailable: 1 },
    })
    for (const batch of plan.batches) {
      expect(batch.retireFirst).toHaveLength(1)
      expect(batch.retire).toEqual([])
    }
    const run = simulate(instances, plan.batches)
    expect(run.lowestServing).toBe(3)
    expect(run.highestRunning).toBe(4)
  })

  it('refuses what it cannot plan', () => {
    const base = { instances: spread('v1', ['a'], 2), release: 'v2', replicas: 2 }
    expect(() =>
      planRollout({ ...base, hosts: ['a'], strategy: { batchSize: 1, maxSurge: 0, maxUnavailable: 0 } }),
    ).toThrow(PlanError)
    expect(() => planRollout({ ...base, hosts: ['a'], excludedHosts: ['a'], strategy })).toThrow(
      /no host left/,
    )
    expect(() => planRollout({ ...base, hosts: ['a'], replicas: -1, strategy })).toThrow(/replicas/)
  })
})
