import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { z } from 'zod'
import { AppError } from './errors.ts'

/**
 * Secrets at rest: AES-256-GCM envelopes `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url).
 *
 * A keyring holds one current key (used to encrypt) and older ones (still decrypt), so a key
 * is rotated by adding a new key in front and re-encrypting at leisure (docs/OPERATIONS.md).
 * `context` is bound as additional authenticated data: an envelope copied to another row or
 * field does not decrypt there.
 */
export interface SecretBox {
  readonly currentKeyId: string
  encrypt(plaintext: string, context: string): string
  decrypt(envelope: string, context: string): string
  /** The key id an envelope was sealed with (to find envelopes needing re-encryption). */
  keyIdOf(envelope: string): string
}

const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/

/**
 * Parses `id:base64key[,id:base64key...]`; the first key is the current one. Each key must be
 * exactly 32 bytes.
 */
export function parseKeyring(spec: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>()
  for (const part of spec
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)) {
    const colon = part.indexOf(':')
    if (colon <= 0) throw new Error('each key must look like <id>:<base64 of 32 bytes>')
    const id = part.slice(0, colon)
    if (!keyIdPattern.test(id)) throw new Error(`key id "${id}" must be 1-32 letters, digits, _ or -`)
    const key = Buffer.from(part.slice(colon + 1), 'base64')
    if (key.length !== 32) throw new Error(`key "${id}" must be 32 bytes of base64 (got ${key.length} bytes)`)
    if (keys.has(id)) throw new Error(`key id "${id}" appears twice`)
    keys.set(id, key)
  }
  if (keys.size === 0) throw new Error('at least one key is required')
  return keys
}

export function generateKeySpec(id = 'k1'): string {
  return `${id}:${randomBytes(32).toString('base64')}`
}

export function createSecretBox(keyring: Map<string, Buffer>): SecretBox {
  const [currentKeyId, currentKey] = [...keyring.entries()][0] ?? []
  if (!currentKeyId || !currentKey) throw new Error('empty keyring')

  const parse = (envelope: string) => {
    const parts = envelope.split('.')
    if (parts.length !== 5 || parts[0] !== 'v1') {
      throw new AppError('INTERNAL', 'stored secret is not a Slipway secret envelope')
    }
    const [, keyId, iv, tag, data] = parts as [string, string, string, string, string]
    return { keyId, iv, tag, data }
  }

  return {
    currentKeyId,
    encrypt(plaintext, context) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv)
      cipher.setAAD(Buffer.from(context, 'utf8'))
      const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      const tag = cipher.getAuthTag()
      return [
        'v1',
        currentKeyId,
        iv.toString('base64url'),
        tag.toString('base64url'),
        data.toString('base64url'),
      ].join('.')
    },
    decrypt(envelope, context) {
      const { keyId, iv, tag, data } = parse(envelope)
      const key = keyring.get(keyId)
      if (!key)
        throw new AppError(
          'INTERNAL',
          `secret was encrypted with key "${keyId}", which is not in the keyring`,
        )
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
        decipher.setAAD(Buffer.from(context, 'utf8'))
        decipher.setAuthTag(Buffer.from(tag, 'base64url'))
        return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
          'utf8',
        )
      } catch (error) {
        throw new AppError('INTERNAL', 'stored secret failed authentication (wrong key or tampered)', {
          cause: error,
        })
      }
    },
    keyIdOf(envelope) {
      return parse(envelope).keyId
    },
  }
}

/** Validates a keyring spec inside an app's env schema. */
export const keyringSpecSchema = z.string().superRefine((value, ctx) => {
  try {
    parseKeyring(value)
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message })
  }
})
