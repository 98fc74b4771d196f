import { describe, expect, it } from 'vitest'
import {
  approvalExpired,
  decideApproval,
  decideInstance,
  decideProject,
  instanceActions,
  type ProjectAction,
  projectActions,
  type Role,
  roles,
} from './rules.ts'

/** The whole matrix, written out: every project action × every role. */
const expected: Record<ProjectAction, Record<Role, boolean>> = {
  'project.read': { admin: true, maintainer: true, developer: true, tester: true, viewer: true },
  'project.update': { admin: true, maintainer: true, developer: false, tester: false, viewer: false },
  'project.delete': { admin: true, maintainer: false, developer: false, tester: false, viewer: false },
  'member.manage': { admin: true, maintainer: false, developer: false, tester: false, viewer: false },
  'environment.manage': { admin: true, maintainer: true, developer: false, tester: false, viewer: false },
  'config.read': { admin: true, maintainer: true, developer: true, tester: false, viewer: false },
  'config.write': { admin: true, maintainer: true, developer: false, tester: false, viewer: false },
  'pipeline.trigger': { admin: true, maintainer: true, developer: true, tester: false, viewer: false },
  'pipeline.cancel': { admin: true, maintainer: true, developer: true, tester: false, viewer: false },
  'pipeline.retry': { admin: true, maintainer: true, developer: true, tester: false, viewer: false },
  deploy: { admin: true, maintainer: true, developer: true, tester: false, viewer: false },
  'approval.decide': { admin: true, maintainer: true, developer: false, tester: true, viewer: false },
  'canary.decide': { admin: true, maintainer: true, developer: true, tester: true, viewer: false },
  'audit.read': { admin: true, maintainer: true, developer: false, tester: false, viewer: false },
  'webhook.manage': { admin: true, maintainer: true, developer: false, tester: false, viewer: false },
}

describe('project permissions', () => {
  for (const action of projectActions) {
    for (const role of roles) {
      it(`${role} ${expected[action][role] ? 'may' : 'may not'} ${action}`, () => {
        const decision = decideProject({ isAdmin: false, role }, action)
        expect(decision.allowed).toBe(expected[action][role])
        if (!decision.allowed) expect(decision.reason).toContain(`you are ${role}`)
      })
    }
  }

  it('covers every action in the matrix', () => {
    expect(Object.keys(expected).sort()).toEqual([...projectActions].sort())
  })

  it('lets instance administrators do everything, member or not', () => {
    for (const action of projectActions) {
      expect(decideProject({ isAdmin: true }, action, { environmentProtected: true }).allowed).toBe(true)
    }
  })

  it('refuses non-members everything, with the reason', () => {
    for (const action of projectActions) {
      expect(decideProject({ isAdmin: false }, action)).toEqual({
        allowed: false,
        reason: 'you are not a member of this project',
      })
    }
  })

  it('keeps developers out of protected environments', () => {
    const protectedDeploy = (role: Role) =>
      decideProject({ isAdmin: false, role }, 'deploy', { environmentProtected: true })
    expect(roles.filter((role) => protectedDeploy(role).allowed)).toEqual(['admin', 'maintainer'])
    const developer = protectedDeploy('developer')
    expect(developer.allowed).toBe(false)
    if (!developer.allowed) expect(developer.reason).toMatch(/on a protected environment/)
  })
})

describe('canary decisions', () => {
  it('are for testers and maintainers on a protected environment, not developers', () => {
    const decide = (role: Role) =>
      decideProject({ isAdmin: false, role }, 'canary.decide', { environmentProtected: true })
    expect(roles.filter((role) => decide(role).allowed)).toEqual(['admin', 'maintainer', 'tester'])
    const developer = decide('developer')
    expect(developer.allowed).toBe(false)
    if (!developer.allowed) expect(developer.reason).toMatch(/canary.decide on a protected environment/)
  })
})

describe('instance permissions', () => {
  it('are for instance administrators only', () => {
    for (const action of instanceActions) {
      expect(decideInstance({ isAdmin: true }, action).allowed).toBe(true)
      for (const role of roles) expect(decideInstance({ isAdmin: false, role }, action).allowed).toBe(false)
    }
  })
})

describe('approvals', () => {
  const base = {
    triggeredByUserId: 'dev',
    approverUserId: 'qa',
    allowSelfApproval: false,
    alreadyApprovedBy: [],
  }

  it('accepts a tester who did not trigger the pipeline', () => {
    expect(decideApproval({ isAdmin: false, role: 'tester' }, base).allowed).toBe(true)
  })

  it('refuses the person who triggered the pipeline unless the environment allows it', () => {
    const self = { ...base, approverUserId: 'dev' }
    expect(decideApproval({ isAdmin: false, role: 'maintainer' }, self).allowed).toBe(false)
    expect(decideApproval({ isAdmin: true }, self).allowed).toBe(false)
    expect(
      decideApproval({ isAdmin: false, role: 'maintainer' }, { ...self, allowSelfApproval: true }).allowed,
    ).toBe(true)
  })

  it('accepts webhook-triggered pipelines from anyone with the role', () => {
    expect(
      decideApproval({ isAdmin: false, role: 'tester' }, { ...base, triggeredByUserId: undefined }).allowed,
    ).toBe(true)
  })

  it('refuses a second approval by the same person', () => {
    const again = decideApproval({ isAdmin: false, role: 'tester' }, { ...base, alreadyApprovedBy: ['qa'] })
    expect(again).toEqual({ allowed: false, reason: 'you have already approved this stage' })
  })

  it('refuses viewers and developers by role first', () => {
    for (const role of ['viewer', 'developer'] as const) {
      expect(decideApproval({ isAdmin: false, role }, base).allowed).toBe(false)
    }
  })
})

describe('approval expiry', () => {
  it('never expires without a limit, and expires at the limit', () => {
    const at = new Date('2026-01-01T00:00:00Z')
    expect(approvalExpired(at, null, at.getTime() + 10 ** 12)).toBe(false)
    expect(approvalExpired(at, 30, at.getTime() + 29 * 60_000)).toBe(false)
    expect(approvalExpired(at, 30, at.getTime() + 30 * 60_000)).toBe(true)
  })
})
