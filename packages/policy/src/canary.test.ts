import { describe, expect, it } from 'vitest'
import { type CanaryPhase, canaryCommandRefusal } from './canary.ts'

describe('a person commanding a canary', () => {
  /** Every phase × action, written out: null = taken. */
  const expected: Record<CanaryPhase, Record<'promote' | 'abort', string | null>> = {
    starting: {
      promote: 'the canary is starting: promote once a step waiting for a person has passed',
      abort: null,
    },
    judging: {
      promote: 'the canary is judging step 2: promote once a step waiting for a person has passed',
      abort: null,
    },
    waiting: { promote: null, abort: null },
    promoted: {
      promote: 'the canary has ended: every step passed',
      abort: 'the canary has ended: every step passed',
    },
    'rolled-back': {
      promote: 'the canary has ended: it was rolled back',
      abort: 'the canary has ended: it was rolled back',
    },
  }
  for (const [phase, actions] of Object.entries(expected) as [CanaryPhase, Record<string, string | null>][])
    for (const action of ['promote', 'abort'] as const)
      it(`${action} while ${phase}: ${actions[action] === null ? 'taken' : 'refused'}`, () => {
        expect(canaryCommandRefusal({ phase, step: 1 }, action)).toBe(actions[action])
      })
})
