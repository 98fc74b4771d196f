import { describe, expect, it } from 'vitest'
import { mustClearCredential, sameDestination } from './credentials.ts'

describe('a credential follows its destination', () => {
  const from = 'https://gitlab.example.com'
  const cases: Array<[string, Parameters<typeof mustClearCredential>[0], boolean]> = [
    [
      'moved, not resent',
      { destinationBefore: from, destinationAfter: 'https://evil.test', stored: true, resent: false },
      true,
    ],
    [
      'moved and resent',
      { destinationBefore: from, destinationAfter: 'https://evil.test', stored: true, resent: true },
      false,
    ],
    ['not moved', { destinationBefore: from, destinationAfter: from, stored: true, resent: false }, false],
    [
      'destination not in the change',
      { destinationBefore: from, destinationAfter: undefined, stored: true, resent: false },
      false,
    ],
    [
      'nothing stored',
      { destinationBefore: from, destinationAfter: 'https://evil.test', stored: false, resent: false },
      false,
    ],
    [
      'destination removed',
      { destinationBefore: from, destinationAfter: null, stored: true, resent: false },
      true,
    ],
    [
      'destination set for the first time',
      { destinationBefore: null, destinationAfter: from, stored: true, resent: false },
      true,
    ],
    [
      'only the case of the host differs',
      {
        destinationBefore: from,
        destinationAfter: 'HTTPS://GitLab.Example.com/',
        stored: true,
        resent: false,
      },
      false,
    ],
    [
      'the path differs',
      { destinationBefore: from, destinationAfter: `${from}/proxy`, stored: true, resent: false },
      true,
    ],
    [
      'another port',
      {
        destinationBefore: 'registry.test:5000',
        destinationAfter: 'registry.test:5001',
        stored: true,
        resent: false,
      },
      true,
    ],
  ]
  for (const [name, change, cleared] of cases) {
    it(`${name}: ${cleared ? 'cleared' : 'kept'}`, () => {
      expect(mustClearCredential(change)).toBe(cleared)
    })
  }

  it('compares schemes and hosts case-insensitively, paths exactly', () => {
    expect(sameDestination('tcp://10.0.0.1:2376', 'TCP://10.0.0.1:2376')).toBe(true)
    expect(sameDestination('https://h/a', 'https://h/A')).toBe(false)
    expect(sameDestination('Registry.Test', 'registry.test')).toBe(true)
    expect(sameDestination(null, null)).toBe(true)
    expect(sameDestination(null, 'x')).toBe(false)
  })
})
