import { z } from 'zod'

/** Timestamps travel as ISO-8601 strings and are Date objects on both ends. */
export const Timestamp = z.codec(z.iso.datetime({ offset: true }), z.date(), {
  decode: (value) => new Date(value),
  encode: (date) => date.toISOString(),
})

export const Id = z.uuid()

/** Lower-case names used in URLs, labels and container names. */
export const Slug = z
  .string()
  .min(2)
  .max(40)
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'lower-case letters, digits and dashes, not at either end')

/** A git ref name as `git check-ref-format` accepts it (never an option). */
export const GitRef = z
  .string()
  .min(1)
  .max(255)
  .refine(
    (ref) =>
      !ref.startsWith('-') &&
      !ref.startsWith('/') &&
      !ref.endsWith('/') &&
      !ref.endsWith('.') &&
      !ref.endsWith('.lock') &&
      !ref.includes('..') &&
      !ref.includes('//') &&
      !ref.includes('@{') &&
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what git forbids
      !/[\u0000-\u0020\u007f~^:?*[\\]/.test(ref),
    'not a valid git ref name',
  )

export const CommitSha = z
  .string()
  .regex(/^[0-9a-f]{40}$/, 'a full 40-character commit SHA in lower-case hex')

/** Glob over ref names: `*` matches within a path segment, `**` across segments. */
export const RefPattern = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._\-/*]+$/, 'letters, digits, . _ - / and * only')

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** Opaque cursor from the previous page's `nextCursor`. */
  cursor: z.string().max(200).optional(),
})

export function page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() })
}

/** A write-only secret: sent in requests, never returned. */
export const SecretInput = z.string().min(1).max(16_384)

/**
 * Whether an http(s) URL carries no user name or password: a URL is shown to people and
 * written to the audit log, so credentials go in a write-only field (a token, a signing
 * secret), never in it.
 */
export function withoutUserinfo(url: string): boolean {
  if (!URL.canParse(url)) return true // the URL check itself reports it
  const { username, password } = new URL(url)
  return username === '' && password === ''
}
