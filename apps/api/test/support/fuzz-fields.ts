import type { FuzzRequest } from './fuzz-arbitraries.ts'
import type { RouteModel } from './fuzz-model.ts'

/** Kinds of hostile value, each put in every field that can hold it. */
const hostileKinds = [
  'wrong type',
  'deeply nested',
  'NUL',
  'lone surrogate',
  'right-to-left override',
  'zero-width space',
  'very long string',
] as const
type HostileKind = (typeof hostileKinds)[number]

/** 100,000 characters: past every length limit of the contracts, within the 1 MiB body limit. */
const veryLong = 'x'.repeat(100_000)
/** 5,000 arrays deep, in one field: written into the JSON text (JSON.stringify would overflow). */
const deepMark = '\u0001deep\u0001'
const deepJson = `${'['.repeat(5000)}${']'.repeat(5000)}`
const stringify = (body: unknown) => JSON.stringify(body).replace(JSON.stringify(deepMark), deepJson)

/** The value of `kind` for a field whose valid value is `valid`; undefined when it does not apply. */
function hostileValue(kind: HostileKind, valid: unknown): unknown {
  const text = typeof valid === 'string' ? valid : undefined
  switch (kind) {
    case 'wrong type':
      return typeof valid === 'string' ? 42 : typeof valid === 'number' ? 'forty-two' : 'x'
    case 'deeply nested':
      return deepMark
    case 'NUL':
      return text === undefined ? undefined : `${text}\u0000`
    case 'lone surrogate':
      return text === undefined ? undefined : `${text}\uD800`
    case 'right-to-left override':
      return text === undefined ? undefined : `${text}\u202Egpj.exe`
    case 'zero-width space':
      return text === undefined ? undefined : `${text}\u200B`
    case 'very long string':
      return text === undefined ? undefined : `${text}${veryLong}`
  }
}

/** Every field of a body, as paths: top-level keys, and the keys of objects one level down. */
function fieldPaths(body: Record<string, unknown>): string[][] {
  const paths: string[][] = []
  for (const [key, value] of Object.entries(body)) {
    paths.push([key])
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const inner of Object.keys(value)) paths.push([key, inner])
    }
  }
  return paths
}

function valueAt(body: Record<string, unknown>, path: string[]): unknown {
  return path.reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], body)
}

function withValue(body: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const [head = '', ...rest] = path
  if (!rest.length) return { ...body, [head]: value }
  return { ...body, [head]: withValue((body[head] as Record<string, unknown>) ?? {}, rest, value) }
}

/** Percent-encoding that keeps a lone surrogate (encodeURIComponent throws on it): its CESU-8 bytes. */
function encodeHostile(value: string): string {
  return value
    .split('\uD800')
    .map((part) => encodeURIComponent(part))
    .join('%ED%A0%80')
}

/** Text values for path and query parameters (a URL holds no types or nesting). */
const textKinds: Exclude<HostileKind, 'wrong type' | 'deeply nested'>[] = [
  'NUL',
  'lone surrogate',
  'right-to-left override',
  'zero-width space',
  'very long string',
]

export interface FieldRequest extends FuzzRequest {
  kind: HostileKind
  field: string
}

/**
 * One request per route, field and hostile kind, each a valid request (from the permission
 * catalog, sent by an instance administrator) with that one field replaced.
 */
export function hostileFieldRequests(route: RouteModel, auth: string): FieldRequest[] {
  // Streams too: a stream is opened only by a request that passes every check, and each of these must fail one.
  if (!route.existing) return []
  const requests: FieldRequest[] = []
  const path = (values: Record<string, string>, raw: Record<string, string> = {}) =>
    route.url.replaceAll(
      /:([A-Za-z0-9_]+)/g,
      (_, name: string) => raw[name] ?? encodeURIComponent(values[name] ?? ''),
    )
  const headers = { authorization: auth, 'content-type': 'application/json' }
  const payload = route.validBody && route.method !== 'GET' ? JSON.stringify(route.validBody) : undefined
  const base = { method: route.method, headers: payload === undefined ? { authorization: auth } : headers }

  for (const name of route.params) {
    const valid = route.existing[name] ?? ''
    for (const kind of textKinds) {
      const value = hostileValue(kind, valid) as string
      // The router refuses paths past its limit before any handler: a long value names nothing.
      const raw = encodeHostile(kind === 'very long string' ? value.slice(0, 2000) : value)
      requests.push({
        ...base,
        url: path(route.existing, { [name]: raw }),
        ...(payload === undefined ? {} : { payload }),
        kind,
        field: `params.${name}`,
        why: `${kind} in :${name}`,
      })
    }
  }
  for (const param of route.query) {
    for (const kind of textKinds) {
      const value = hostileValue(kind, param.enum?.[0] ?? (param.type === 'string' ? 'a' : '1')) as string
      requests.push({
        ...base,
        url: `${path(route.existing)}?${param.name}=${encodeHostile(kind === 'very long string' ? value.slice(0, 8000) : value)}`,
        ...(payload === undefined ? {} : { payload }),
        kind,
        field: `querystring.${param.name}`,
        why: `${kind} in ?${param.name}`,
      })
    }
  }
  if (route.validBody && route.method !== 'GET') {
    for (const field of fieldPaths(route.validBody)) {
      for (const kind of hostileKinds) {
        const value = hostileValue(kind, valueAt(route.validBody, field))
        if (value === undefined) continue
        requests.push({
          ...base,
          headers,
          url: path(route.existing),
          payload: stringify(withValue(route.validBody, field, value)),
          kind,
          field: `body.${field.join('.')}`,
          why: `${kind} in body.${field.join('.')}`,
        })
      }
    }
  }
  return requests
}

/**
 * Requests whose text may be accepted: a right-to-left override or a zero-width space in a
 * write is text like any other where the field is free text (a display name, a password, a
 * configuration value, a URL path); identifier-like fields (slugs, keys, ids) refuse them.
 */
export const mayKeepText = (request: FieldRequest) =>
  request.method !== 'GET' &&
  (request.kind === 'right-to-left override' || request.kind === 'zero-width space')

/** Text never shown again (secrets, passwords), or a check that stores nothing. */
export const notEchoed = (route: RouteModel, request: FieldRequest) =>
  /\.(secret|secrets|password|newPassword)(\.|$)/.test(request.field) || route.key === 'POST /api/hosts/check'

/** The hostile value a request carries in its field (for checking that free text is kept). */
export function sentValue(request: FieldRequest): string | undefined {
  if (!request.payload) return undefined
  const path = request.field.split('.').slice(1)
  const value = path.reduce<unknown>(
    (at, key) => (at as Record<string, unknown> | undefined)?.[key],
    JSON.parse(request.payload) as unknown,
  )
  return typeof value === 'string' ? value : undefined
}
