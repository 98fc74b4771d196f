import { describe, expect, it } from 'vitest'
import {
  approvalSatisfied,
  type DeployCause,
  decideDeployCause,
  decideRetry,
  deployCauses,
  pipelineNeedsDeployer,
} from './protected.ts'
import type { Subject } from './rules.ts'

/** Everyone who can be behind a deploy: each project role, an instance admin, a non-member, GitLab. */
const people: Record<string, Subject | null> = {
  'instance-admin': { isAdmin: true },
  admin: { isAdmin: false, role: 'admin' },
  maintainer: { isAdmin: false, role: 'maintainer' },
  developer: { isAdmin: false, role: 'developer' },
  tester: { isAdmin: false, role: 'tester' },
  viewer: { isAdmin: false, role: 'viewer' },
  'non-member': { isAdmin: false },
  gitlab: null,
}
type Person = keyof typeof people
type Outcome = 'deploy' | 'await-deployer' | 'refused'

const D = 'deploy' as const
const W = 'await-deployer' as const
const R = 'refused' as const

/** The whole table for a protected environment: every path × every person, written out. */
const protectedTable: Record<DeployCause, Record<Person, Outcome>> = {
  pipeline: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: W,
    tester: W,
    viewer: W,
    'non-member': W,
    gitlab: W,
  },
  rerun: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: W,
    tester: W,
    viewer: W,
    'non-member': W,
    gitlab: W,
  },
  gitlab: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: W,
    tester: W,
    viewer: W,
    'non-member': W,
    gitlab: W,
  },
  retry: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: R,
    tester: R,
    viewer: R,
    'non-member': R,
    gitlab: R,
  },
  rollback: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: R,
    tester: R,
    viewer: R,
    'non-member': R,
    gitlab: R,
  },
  scale: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: R,
    tester: R,
    viewer: R,
    'non-member': R,
    gitlab: R,
  },
  redeploy: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: R,
    tester: R,
    viewer: R,
    'non-member': R,
    gitlab: R,
  },
}

/** And for an unprotected one: pipelines deploy; direct operations need the deploy role. */
const unprotectedTable: Record<DeployCause, Record<Person, Outcome>> = {
  pipeline: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: D,
    tester: D,
    viewer: D,
    'non-member': D,
    gitlab: D,
  },
  rerun: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: D,
    tester: D,
    viewer: D,
    'non-member': D,
    gitlab: D,
  },
  gitlab: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: D,
    tester: D,
    viewer: D,
    'non-member': D,
    gitlab: D,
  },
  retry: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: D,
    tester: R,
    viewer: R,
    'non-member': R,
    gitlab: R,
  },
  rollback: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: D,
    tester: R,
    viewer: R,
    'non-member': R,
    gitlab: R,
  },
  scale: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: D,
    tester: R,
    viewer: R,
    'non-member': R,
    gitlab: R,
  },
  redeploy: {
    'instance-admin': D,
    admin: D,
    maintainer: D,
    developer: D,
    tester: R,
    viewer: R,
    'non-member': R,
    gitlab: R,
  },
}

describe('protected environments: every path × every person', () => {
  for (const [label, table, isProtected] of [
    ['protected', protectedTable, true],
    ['unprotected', unprotectedTable, false],
  ] as const) {
    for (const cause of deployCauses) {
      for (const person of Object.keys(people) as Person[]) {
        const expected = table[cause][person]
        it(`${label}: ${cause} by ${person} → ${expected}`, () => {
          const decision = decideDeployCause(people[person] ?? null, cause, isProtected)
          expect(decision.outcome).toBe(expected)
          if (decision.outcome === 'refused') expect(decision.reason).not.toBe('')
        })
      }
    }
  }

  it('covers every cause in both tables', () => {
    expect(Object.keys(protectedTable).sort()).toEqual([...deployCauses].sort())
    expect(Object.keys(unprotectedTable).sort()).toEqual([...deployCauses].sort())
  })

  it('a GitLab push waits at a protected environment even with no approvals required', () => {
    const open = { protected: false, requiredApprovals: 0 }
    const bare = { protected: true, requiredApprovals: 0 }
    const approved = { protected: true, requiredApprovals: 1 }
    expect(pipelineNeedsDeployer(null, 'gitlab', bare)).toBe(true)
    expect(pipelineNeedsDeployer(null, 'gitlab', open)).toBe(false)
    expect(pipelineNeedsDeployer(people.developer ?? null, 'pipeline', bare)).toBe(true)
    expect(pipelineNeedsDeployer(people.developer ?? null, 'rerun', bare)).toBe(true)
    expect(pipelineNeedsDeployer(people.maintainer ?? null, 'pipeline', bare)).toBe(false)
    // Where approvals are required, they are the gate (testers, maintainers, admins approve).
    expect(pipelineNeedsDeployer(null, 'gitlab', approved)).toBe(false)
    expect(pipelineNeedsDeployer(people.developer ?? null, 'pipeline', approved)).toBe(false)
  })
})

describe('approvals at a protected environment', () => {
  const tester = { isAdmin: false, role: 'tester' } as const
  const maintainer = { isAdmin: false, role: 'maintainer' } as const
  const admin = { isAdmin: true }

  it('need a deployer among the approvers when the pipeline waits for one', () => {
    expect(approvalSatisfied({ required: 1, approvers: [tester], needsDeployer: true })).toBe(false)
    expect(approvalSatisfied({ required: 0, approvers: [tester], needsDeployer: true })).toBe(false)
    expect(approvalSatisfied({ required: 1, approvers: [maintainer], needsDeployer: true })).toBe(true)
    expect(approvalSatisfied({ required: 0, approvers: [admin], needsDeployer: true })).toBe(true)
    expect(approvalSatisfied({ required: 2, approvers: [tester, maintainer], needsDeployer: true })).toBe(
      true,
    )
  })

  it('need as many approvals as required either way', () => {
    expect(approvalSatisfied({ required: 2, approvers: [maintainer], needsDeployer: true })).toBe(false)
    expect(approvalSatisfied({ required: 1, approvers: [tester], needsDeployer: false })).toBe(true)
    expect(approvalSatisfied({ required: 0, approvers: [], needsDeployer: false })).toBe(false)
  })
})

describe('retrying a stage', () => {
  const developer = { isAdmin: false, role: 'developer' } as const
  const maintainer = { isAdmin: false, role: 'maintainer' } as const
  const production = { environment: 'production', environmentProtected: true, awaitsApproval: false }

  it('refuses a developer whose retry would deploy to a protected environment', () => {
    const decision = decideRetry(developer, [
      { environment: 'pre-release', environmentProtected: false, awaitsApproval: false },
      production,
    ])
    expect(decision.allowed).toBe(false)
    if (!decision.allowed) expect(decision.reason).toMatch(/production, which is protected/)
  })

  it('lets a developer retry when the protected deploy still waits for an approval', () => {
    expect(decideRetry(developer, [{ ...production, awaitsApproval: true }]).allowed).toBe(true)
  })

  it('lets maintainers retry anything, and anyone retry what deploys nowhere protected', () => {
    expect(decideRetry(maintainer, [production]).allowed).toBe(true)
    expect(decideRetry(developer, []).allowed).toBe(true)
  })
})
