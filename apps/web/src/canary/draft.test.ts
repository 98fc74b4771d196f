import { CanaryStrategy, UpdateEnvironmentBody } from '@slipway/contracts'
import { describe, expect, it } from 'vitest'
import { issuesToFields } from '../ui/form.tsx'
import {
  canaryBody,
  canaryDraftOf,
  canaryUnavailable,
  withStepAdded,
  withStepChanged,
  withStepRemoved,
} from './draft.ts'

describe('canary draft', () => {
  it('starts from the contract defaults, off, and reads a strategy back to the same body', () => {
    const off = canaryDraftOf(null)
    expect(off.enabled).toBe(false)
    expect(off.steps.map((step) => step.weight)).toEqual(['5', '25', '50'])
    expect(off.maxErrorRatePercent).toBe('1')
    expect(off.maxP99Ms).toBe('')
    expect(canaryBody(off)).toBeNull()

    const strategy = CanaryStrategy.parse({
      steps: [{ weight: 10, manual: true }, { weight: 40 }],
      thresholds: { maxErrorRate: 0.015, maxP99Ms: 250 },
      sticky: true,
    })
    const draft = canaryDraftOf(strategy)
    expect(draft.enabled).toBe(true)
    expect(draft.maxErrorRatePercent).toBe('1.5')
    expect(draft.sticky).toBe(true)
    expect(CanaryStrategy.parse(canaryBody(draft))).toEqual(strategy)
  })

  it('sends null where canaries cannot run', () => {
    expect(canaryBody(canaryDraftOf(CanaryStrategy.parse({})), false)).toBeNull()
    expect(canaryUnavailable('swarm')).toMatch(/Docker-hosts/)
    expect(canaryUnavailable('docker-hosts')).toBeUndefined()
  })

  it('adds, changes and removes steps within the bounds', () => {
    let draft = { ...canaryDraftOf(null), enabled: true }
    draft = withStepAdded(draft)
    expect(draft.steps.at(-1)).toMatchObject({ weight: '99', holdSeconds: '60' })
    for (let i = 0; i < 10; i++) draft = withStepAdded(draft)
    expect(draft.steps).toHaveLength(10)
    draft = withStepChanged(draft, 0, { manual: true, holdSeconds: '30' })
    expect(draft.steps[0]).toMatchObject({ weight: '5', manual: true, holdSeconds: '30' })
    draft = withStepRemoved(draft, 0)
    expect(draft.steps[0]?.weight).toBe('25')
    const one = { ...draft, steps: draft.steps.slice(0, 1) }
    expect(withStepRemoved(one, 0)).toBe(one)
  })

  it('puts the contract errors by the fields the form shows them at', () => {
    const draft = withStepChanged({ ...canaryDraftOf(null), enabled: true, maxErrorRatePercent: '150' }, 2, {
      weight: '20',
    })
    const parsed = UpdateEnvironmentBody.safeParse({ strategy: { canary: canaryBody(draft) } })
    expect(parsed.success).toBe(false)
    const fields = issuesToFields(parsed.success ? [] : parsed.error.issues)
    expect(Object.keys(fields).sort()).toEqual([
      'strategy.canary.steps.2.weight',
      'strategy.canary.thresholds.maxErrorRate',
    ])
  })
})
