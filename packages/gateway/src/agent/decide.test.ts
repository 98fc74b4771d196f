import { describe, expect, test } from 'vitest'
import { decideUpstream } from './decide.ts'

const a = { id: 'a', host: 'prod-1', address: '10.222.42.4', port: 32000 }
const b = { id: 'b', host: 'prod-2', address: '10.222.42.5', port: 32001 }
const c = { id: 'c', host: 'prod-3', address: '10.222.42.6', port: 32002 }

describe('decideUpstream', () => {
  test('live entries decide, whatever is served', () => {
    expect(decideUpstream({ entries: [c, a], expired: ['prod-2-32001'] }, [b])).toEqual({
      instances: [a, c],
      failStatic: false,
    })
  })

  test('one instance expiring among live ones leaves the upstream', () => {
    expect(decideUpstream({ entries: [a], expired: ['prod-2-32001'] }, [a, b])).toEqual({
      instances: [a],
      failStatic: false,
    })
  })

  test('every heartbeat stopped: the served instances are kept (fail static)', () => {
    expect(decideUpstream({ entries: [], expired: ['prod-1-32000', 'prod-2-32001'] }, [b, a])).toEqual({
      instances: [a, b],
      failStatic: true,
    })
  })

  test('fail static keeps only the expired ones; deregistered ones leave', () => {
    expect(decideUpstream({ entries: [], expired: ['prod-2-32001'] }, [a, b])).toEqual({
      instances: [b],
      failStatic: true,
    })
  })

  test('every instance deregistered on purpose empties the site', () => {
    expect(decideUpstream({ entries: [], expired: [] }, [a, b])).toEqual({ instances: [], failStatic: false })
  })

  test('nothing served and nothing live: empty', () => {
    expect(decideUpstream({ entries: [], expired: ['prod-1-32000'] }, undefined)).toEqual({
      instances: [],
      failStatic: false,
    })
    expect(decideUpstream({ entries: [], expired: [] }, [])).toEqual({ instances: [], failStatic: false })
  })

  test('an instance that comes back ends fail static', () => {
    const kept = decideUpstream({ entries: [], expired: ['prod-1-32000'] }, [a])
    expect(kept.failStatic).toBe(true)
    expect(decideUpstream({ entries: [c], expired: ['prod-1-32000'] }, kept.instances)).toEqual({
      instances: [c],
      failStatic: false,
    })
  })

  test('a weight other than 1 is carried to the upstream (a canary), 1 is the default', () => {
    const decided = decideUpstream(
      {
        entries: [
          { ...a, weight: 95 },
          { ...b, weight: 1 },
          { ...c, weight: 5 },
        ],
        expired: [],
      },
      undefined,
    )
    expect(decided.instances).toEqual([{ ...a, weight: 95 }, b, { ...c, weight: 5 }])
  })
})
