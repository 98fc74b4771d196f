import { UpdateHostBody, UpdateRegistryBody } from '@slipway/contracts'
import { describe, expect, it } from 'vitest'
import { changedFields, parseLabels, secretChange, storedHint, tlsChange } from './edits.ts'

describe('label lines', () => {
  it('reads key=value lines, skipping blank ones and spaces around', () => {
    expect(parseLabels('zone = eu-1\n\n  tier=web=front \n')).toEqual({
      ok: true,
      value: { zone: 'eu-1', tier: 'web=front' },
    })
    expect(parseLabels('')).toEqual({ ok: true, value: {} })
    expect(parseLabels('empty=')).toEqual({ ok: true, value: { empty: '' } })
  })

  it('names the first bad line and what is wrong with it', () => {
    expect(parseLabels('zone=a\njust-a-word')).toEqual({
      ok: false,
      error: 'line 2: "just-a-word" has no "=" (write key=value)',
    })
    expect(parseLabels('=x')).toEqual({ ok: false, error: 'line 1: the key before "=" is empty' })
    expect(parseLabels('a=1\na=2')).toEqual({ ok: false, error: 'line 2: the key "a" appears twice' })
    const bad = parseLabels('Zone A=1')
    expect(bad.ok).toBe(false)
    expect(!bad.ok && bad.error).toMatch(/^line 1: the key "Zone A" needs lower-case letters/)
    expect(parseLabels('__proto__=x').ok).toBe(false)
  })
})

describe('minimal PATCH bodies', () => {
  const host: {
    name: string
    agentGroup: string | null
    maxConcurrentBuilds: number | undefined
    labels: Record<string, string>
  } = { name: 'prod-1', agentGroup: null, maxConcurrentBuilds: 2, labels: { a: '1', b: '2' } }

  it('sends only the fields that changed, comparing records whatever their key order', () => {
    expect(changedFields(host, { ...host, labels: { b: '2', a: '1' } })).toEqual({})
    expect(changedFields(host, { ...host, name: 'prod-9', labels: { a: '1' } })).toEqual({
      name: 'prod-9',
      labels: { a: '1' },
    })
    expect(changedFields(host, { ...host, agentGroup: 'default' })).toEqual({ agentGroup: 'default' })
  })

  it('leaves out fields that are undefined in the draft', () => {
    expect(changedFields(host, { ...host, maxConcurrentBuilds: undefined })).toEqual({})
  })

  it('keeps write-only values unless typed or removed', () => {
    expect(secretChange('')).toBeUndefined()
    expect(secretChange(' new pass ')).toBe(' new pass ')
    expect(secretChange('ignored', true)).toBeNull()
    expect(UpdateRegistryBody.safeParse({ password: secretChange('', true) }).success).toBe(true)
  })

  it('sends the TLS parts typed, null to remove, nothing when untouched', () => {
    const empty = { ca: '', cert: '', key: '', remove: false }
    expect(tlsChange(empty)).toBeUndefined()
    expect(tlsChange({ ...empty, ca: '  \n' })).toBeUndefined()
    expect(tlsChange({ ...empty, remove: true, key: 'x' })).toBeNull()
    const key = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'
    expect(tlsChange({ ...empty, key })).toEqual({ key })
    expect(UpdateHostBody.safeParse({ tls: tlsChange({ ...empty, key }) }).success).toBe(true)
  })
})

describe('stored values', () => {
  it('say whether one is set when editing, and what it is when adding', () => {
    expect(storedHint(undefined, 'Write-only.')).toBe('Write-only.')
    expect(storedHint(true, 'Write-only.')).toBe('Set — leave empty to keep.')
    expect(storedHint(false, 'Write-only.')).toBe('Not set.')
  })
})
