import { describe, expect, it } from 'vitest'
import { createSecretBox, generateKeySpec, parseKeyring } from './secrets.ts'

describe('secret box', () => {
  const box = createSecretBox(parseKeyring(generateKeySpec('k1')))

  it('round-trips and never stores the plaintext', () => {
    const envelope = box.encrypt('hunter2', 'registry:r1:password')
    expect(envelope).not.toContain('hunter2')
    expect(envelope.startsWith('v1.k1.')).toBe(true)
    expect(box.decrypt(envelope, 'registry:r1:password')).toBe('hunter2')
  })

  it('uses a fresh IV every time', () => {
    expect(box.encrypt('same', 'c')).not.toBe(box.encrypt('same', 'c'))
  })

  it('refuses an envelope moved to another context', () => {
    const envelope = box.encrypt('hunter2', 'registry:r1:password')
    expect(() => box.decrypt(envelope, 'registry:r2:password')).toThrow(/failed authentication/)
  })

  it('refuses a tampered envelope', () => {
    const envelope = box.encrypt('hunter2', 'c')
    const parts = envelope.split('.')
    parts[4] = Buffer.from('hunter3').toString('base64url')
    expect(() => box.decrypt(parts.join('.'), 'c')).toThrow(/failed authentication/)
  })

  it('rotates: a new current key encrypts, the old key still decrypts', () => {
    const old = generateKeySpec('k1')
    const sealedWithOld = createSecretBox(parseKeyring(old)).encrypt('v', 'c')
    const rotated = createSecretBox(parseKeyring(`${generateKeySpec('k2')},${old}`))
    expect(rotated.currentKeyId).toBe('k2')
    expect(rotated.decrypt(sealedWithOld, 'c')).toBe('v')
    expect(rotated.keyIdOf(rotated.encrypt('v', 'c'))).toBe('k2')
  })

  it('reports a missing key by id', () => {
    const sealed = createSecretBox(parseKeyring(generateKeySpec('gone'))).encrypt('v', 'c')
    expect(() => box.decrypt(sealed, 'c')).toThrow(/key "gone", which is not in the keyring/)
  })

  it('rejects malformed keyrings with a clear reason', () => {
    expect(() => parseKeyring('')).toThrow(/at least one key/)
    expect(() => parseKeyring('nokey')).toThrow(/<id>:<base64 of 32 bytes>/)
    expect(() => parseKeyring('k1:c2hvcnQ=')).toThrow(/32 bytes/)
    const spec = generateKeySpec('k1')
    expect(() => parseKeyring(`${spec},${spec}`)).toThrow(/appears twice/)
  })
})
