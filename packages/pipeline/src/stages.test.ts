import { describe, expect, it } from 'vitest'
import { parsePushedRef, refMatches, refSelected } from './refs.ts'
import { planStages } from './stages.ts'

describe('planStages', () => {
  it('builds, pushes, then deploys each environment in order with approvals where required', () => {
    const plan = planStages([
      { id: 'prod', name: 'production', position: 1, requiredApprovals: 1 },
      { id: 'pre', name: 'pre-release', position: 0, requiredApprovals: 0 },
    ])
    expect(plan).toEqual([
      { position: 0, kind: 'build', environmentId: null },
      { position: 1, kind: 'push', environmentId: null },
      { position: 2, kind: 'deploy', environmentId: 'pre' },
      { position: 3, kind: 'approval', environmentId: 'prod' },
      { position: 4, kind: 'deploy', environmentId: 'prod' },
    ])
  })

  it('waits for a deployer at a protected environment the starter may not deploy to, even with no approvals required', () => {
    const plan = planStages([
      { id: 'prod', name: 'production', position: 1, requiredApprovals: 0, needsDeployer: true },
      { id: 'pre', name: 'pre-release', position: 0, requiredApprovals: 0, needsDeployer: false },
    ])
    expect(plan.map((stage) => `${stage.kind}:${stage.environmentId ?? ''}`)).toEqual([
      'build:',
      'push:',
      'deploy:pre',
      'approval:prod',
      'deploy:prod',
    ])
  })

  it('is build and push only without environments', () => {
    expect(planStages([]).map((stage) => stage.kind)).toEqual(['build', 'push'])
  })
})

describe('ref rules', () => {
  it.each([
    ['main', 'main', true],
    ['main', 'main2', false],
    ['release/*', 'release/1.2', true],
    ['release/*', 'release/1.2/hotfix', false],
    ['hotfix/**', 'hotfix/a/b', true],
    ['v*', 'v1.2.0', true],
    ['v*', 'x1', false],
    ['v1.2.*', 'v1.2.3', true],
    ['v1.2.*', 'v1x2.3', false],
    ['v1.[0-9].*', 'v1.4.0', true],
    ['v1.[0-9].*', 'v1.x.0', false],
    ['release/?', 'release/7', true],
    // Regular-expression characters are plain characters.
    ['a+b', 'a+b', true],
    ['a+b', 'aab', false],
    ['(x|y)', '(x|y)', true],
    ['(x|y)', 'x', false],
    // No brace expansion or extglobs: they are literal too.
    ['{main,dev}', 'main', false],
    ['+(a|b)', 'a', false],
    ['!main', 'dev', false],
  ])('%s against %s -> %s', (pattern, ref, expected) => {
    expect(refMatches(pattern, ref)).toBe(expected)
  })

  it('answers at once for patterns a backtracking matcher would take forever on', () => {
    // As a regular expression (`^.*a.*a...b$`), each of these takes longer than any test
    // runs: the matcher tried every split of the ref among the stars. A pattern like it is
    // one a maintainer can save in the project's rules.
    const ref = 'a'.repeat(200)
    expect(refMatches(`${'**a'.repeat(25)}b`, ref)).toBe(false)
    expect(refMatches(`${'*a'.repeat(25)}b`, ref)).toBe(false)
    expect(refMatches(`${'**/a'.repeat(25)}b`, 'a/'.repeat(100))).toBe(false)
    expect(refMatches(`${'*a'.repeat(25)}`, ref)).toBe(true)
  })

  it('parses pushed refs and applies branch and tag rules separately', () => {
    const rules = { branchRules: ['main'], tagRules: ['v*'] }
    expect(refSelected(parsePushedRef('refs/heads/main')!, rules)).toBe(true)
    expect(refSelected(parsePushedRef('refs/heads/v1')!, rules)).toBe(false)
    expect(refSelected(parsePushedRef('refs/tags/v1')!, rules)).toBe(true)
    expect(parsePushedRef('refs/merge-requests/1/head')).toBeUndefined()
  })
})
