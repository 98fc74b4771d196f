import { decideApproval, decideInstance, decideProject } from '@slipway/policy'
import { describe, expect, it } from 'vitest'
import { permissionsFor, reasonIfDenied } from './permissions.ts'

describe('reasons in plain words', () => {
  it('names the action and the roles that may do it', () => {
    expect(reasonIfDenied(decideProject({ isAdmin: false, role: 'viewer' }, 'approval.decide'))).toBe(
      'Approving or rejecting needs the role admin, maintainer or tester; you are viewer',
    )
    expect(
      reasonIfDenied(
        decideProject({ isAdmin: false, role: 'developer' }, 'deploy', { environmentProtected: true }),
      ),
    ).toBe('Deploying on a protected environment needs the role admin or maintainer; you are developer')
    expect(reasonIfDenied(decideInstance({ isAdmin: false }, 'host.manage'))).toBe(
      'Managing hosts needs an instance administrator',
    )
  })

  it('keeps other reasons, capitalised, and says nothing when allowed', () => {
    const self = decideApproval(
      { isAdmin: false, role: 'tester' },
      { approverUserId: 'a', triggeredByUserId: 'a', allowSelfApproval: false, alreadyApprovedBy: [] },
    )
    expect(reasonIfDenied(self)).toMatch(
      /^This environment does not accept an approval from the person who triggered/,
    )
    expect(reasonIfDenied(decideProject({ isAdmin: true }, 'project.delete'))).toBeUndefined()
  })
})

describe('approvals by user id', () => {
  const me = (id: string, role: 'tester' | 'developer') => ({
    user: { id, email: `${id}@x.test`, name: id, isAdmin: false, disabled: false, createdAt: new Date(0) },
    csrfToken: null,
    memberships: [{ projectId: 'p', projectSlug: 'p', role }],
    via: 'session' as const,
  })

  it('refuses whoever triggered the pipeline and whoever already approved, by id', () => {
    const tester = permissionsFor(me('u1', 'tester'), 'p')
    const own = { triggeredByUserId: 'u1', approvedByUserIds: [], allowSelfApproval: false }
    expect(tester.approval(own).allowed).toBe(false)
    expect(tester.approval({ ...own, allowSelfApproval: true }).allowed).toBe(true)
    const twice = { triggeredByUserId: 'u2', approvedByUserIds: ['u1'], allowSelfApproval: false }
    expect(reasonIfDenied(tester.approval(twice))).toBe('You have already approved this stage')
    // An email equal to nothing: only ids are compared.
    const other = {
      triggeredByUserId: 'u1@x.test',
      approvedByUserIds: ['u1@x.test'],
      allowSelfApproval: false,
    }
    expect(tester.approval(other).allowed).toBe(true)
  })

  it('treats a webhook pipeline (no one triggered it) as anyone may approve', () => {
    const tester = permissionsFor(me('u1', 'tester'), 'p')
    expect(
      tester.approval({ triggeredByUserId: null, approvedByUserIds: [], allowSelfApproval: false }).allowed,
    ).toBe(true)
  })
})
