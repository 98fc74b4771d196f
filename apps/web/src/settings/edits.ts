/** Pure helpers for the edit forms: label lines, write-only values and minimal PATCH bodies. */
import { LabelKey, type UpdateHostBody } from '@slipway/contracts'

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string }

/**
 * `key=value` lines -> labels. Blank lines are skipped, spaces around key and value dropped;
 * the first line that is not a label is named, in words.
 */
export function parseLabels(text: string): Parsed<Record<string, string>> {
  const labels: Record<string, string> = {}
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (!line) continue
    const where = `line ${index + 1}`
    const at = line.indexOf('=')
    if (at < 0) return { ok: false, error: `${where}: "${line}" has no "=" (write key=value)` }
    const key = line.slice(0, at).trim()
    if (!key) return { ok: false, error: `${where}: the key before "=" is empty` }
    const checked = LabelKey.safeParse(key)
    if (!checked.success)
      return { ok: false, error: `${where}: the key "${key}" needs ${checked.error.issues[0]?.message}` }
    if (Object.hasOwn(labels, key)) return { ok: false, error: `${where}: the key "${key}" appears twice` }
    labels[key] = line.slice(at + 1).trim()
  }
  return { ok: true, value: labels }
}

/** JSON with object keys sorted: equal values give equal text, whatever their key order. */
function canonical(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  )
}

/**
 * The fields of `next` that differ from `current`, for a PATCH that sends only what changed.
 * A field that is undefined in `next` is not sent.
 */
export function changedFields<T extends object>(current: T, next: T): Partial<T> {
  const body: Partial<T> = {}
  for (const key of Object.keys(next) as (keyof T)[]) {
    if (next[key] !== undefined && canonical(next[key]) !== canonical(current[key])) body[key] = next[key]
  }
  return body
}

/** A write-only value in an update: empty keeps it, `remove` clears it (null), text replaces it. */
export function secretChange(typed: string, remove = false): string | null | undefined {
  if (remove) return null
  return typed === '' ? undefined : typed
}

export interface TlsDraft {
  ca: string
  cert: string
  key: string
  /** Remove TLS altogether. */
  remove: boolean
}

/**
 * A host's TLS in a body: undefined keeps it, null removes it, an object sets the parts typed
 * (the API keeps the parts an update leaves out).
 */
export function tlsChange(draft: TlsDraft): UpdateHostBody['tls'] {
  if (draft.remove) return null
  const parts: NonNullable<UpdateHostBody['tls']> = {}
  if (draft.ca.trim()) parts.ca = draft.ca
  if (draft.cert.trim()) parts.cert = draft.cert
  if (draft.key.trim()) parts.key = draft.key
  return Object.keys(parts).length ? parts : undefined
}

/**
 * The hint under a stored value the API only reports as set or not (a password, a key, a
 * certificate): `whenNew` on a new record, else whether one is set and that empty keeps it.
 */
export function storedHint(set: boolean | undefined, whenNew: string): string {
  if (set === undefined) return whenNew
  return set ? 'Set — leave empty to keep.' : 'Not set.'
}
