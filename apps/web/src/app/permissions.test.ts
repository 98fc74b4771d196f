import { decideApproval, decideInstance, decideProject } from '@slipway/policy'
import { describe, expect, it } from 'vitest'
import { reasonIfDenied } from './permissions.ts'

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
