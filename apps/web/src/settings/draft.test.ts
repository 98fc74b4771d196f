import { ConfigSnapshot, PatchConfigBody, UpdateEnvironmentBody, UpdateProjectBody } from '@slipway/contracts'
import { describe, expect, it } from 'vitest'
import { issuesToFields } from '../ui/form.tsx'
import { changeSet } from './ConfigSettings.tsx'
import { countOrPercent, list, num, pairs, pairsText } from './draft.ts'

describe('form conversions', () => {
  it('reads numbers, lists and KEY=value pairs', () => {
    expect(num('')).toBeUndefined()
    expect(num(' 42 ')).toBe(42)
    expect(Number.isNaN(num('x'))).toBe(true)
    expect(list('main, release/*\n v* ,')).toEqual(['main', 'release/*', 'v*'])
    expect(pairs('A=1\nB=x=y\n\nC')).toEqual({ A: '1', B: 'x=y', C: '' })
    expect(pairsText({ A: '1', B: 'x=y' })).toBe('A=1\nB=x=y')
    expect(countOrPercent('3')).toBe(3)
    expect(countOrPercent('25%')).toBe('25%')
  })

  it('places contract errors by field name', () => {
    const parsed = UpdateProjectBody.safeParse({ keepReleases: 0, appSpec: { containerPort: 70000 } })
    expect(parsed.success).toBe(false)
    const fields = issuesToFields(parsed.error!.issues)
    expect(Object.keys(fields)).toContain('keepReleases')
    expect(Object.keys(fields).some((key) => key.startsWith('appSpec.'))).toBe(true)
    const env = UpdateEnvironmentBody.safeParse({ strategy: { maxSurge: 'lots' } })
    expect(Object.keys(issuesToFields(env.error!.issues)).some((k) => k.startsWith('strategy.'))).toBe(true)
  })
})

describe('config change set', () => {
  const snapshot = ConfigSnapshot.parse({
    version: 3,
    id: null,
    createdAt: null,
    variables: [
      { key: 'A', value: '1' },
      { key: 'B', value: '2' },
    ],
    secrets: [{ key: 'S' }],
  })
  const row = (key: string, value: string, secret = false, existing = true, remove = false) => ({
    key,
    value,
    secret,
    existing,
    remove,
  })

  it('sends changed variables, typed secrets and removals only', () => {
    const body = changeSet(
      snapshot,
      [
        row('A', '1'),
        row('B', 'two'),
        row('S', '', true),
        row('N', 'new', false, false),
        row('T', 'hush', true, false),
        row('A2', '', false, false, true),
      ],
      'note',
    )
    expect(body).toEqual({ variables: { B: 'two', N: 'new' }, secrets: { T: 'hush' }, note: 'note' })
    expect(PatchConfigBody.safeParse(body).success).toBe(true)
  })

  it('unsets removed entries; an untouched secret keeps its value', () => {
    expect(changeSet(snapshot, [row('A', '1', false, true, true), row('S', '', true)], '')).toEqual({
      unset: ['A'],
    })
    expect(PatchConfigBody.safeParse(changeSet(snapshot, [row('A', '1')], '')).success).toBe(false)
  })
})
