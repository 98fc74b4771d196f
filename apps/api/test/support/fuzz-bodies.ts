import fc from 'fast-check'
import type { RouteModel } from './fuzz-model.ts'

/** A body, its media type, and why the route must refuse it. */
export interface BadBody {
  payload: string
  type: string
  why: string
}

/** Larger than the API's body limit (1 MiB). */
const oversized = JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10) })

/** Any text, including non-ASCII, control characters and quotes. */
export const text = (maxLength = 40) => fc.string({ unit: 'binary', maxLength })

/**
 * A JSON value `value`'s schema refuses: another JSON type (never null, which may be allowed),
 * or for text, text longer than any limit in the contracts.
 */
function otherType(value: unknown): fc.Arbitrary<unknown> {
  const deep = fc
    .integer({ min: 1, max: 3000 })
    .map((depth) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`))
  const kinds: Record<string, fc.Arbitrary<unknown>> = {
    string: text().map((s) => `\u0001${s}`),
    number: fc.double({ noNaN: true, noDefaultInfinity: true }),
    boolean: fc.boolean(),
    array: fc.oneof(fc.array(fc.jsonValue(), { maxLength: 5 }), deep),
    object: fc.dictionary(text(10), fc.jsonValue(), { maxKeys: 5 }),
  }
  const own = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value
  const others = Object.entries(kinds)
    .filter(([kind]) => kind !== own)
    .map(([, arbitrary]) => arbitrary)
  if (own === 'string') others.push(fc.constant('x'.repeat(40_000)))
  return fc.oneof(...others)
}

/** Bodies that a route's JSON schema refuses, built from a body it accepts. */
export function schemaViolations(route: RouteModel): fc.Arbitrary<BadBody> {
  const valid = route.validBody ?? {}
  const fields = Object.keys(valid)
  const asJson = (why: string) => (value: unknown) => ({
    payload: JSON.stringify(value),
    type: 'application/json',
    why,
  })
  const options: fc.Arbitrary<BadBody>[] = [
    fc
      .tuple(text(12), fc.jsonValue())
      .map(([name, value]) => ({ ...valid, [`x_unknown_${name}`]: value }))
      .map(asJson('an unknown field')),
    fc
      .oneof(fc.array(fc.jsonValue(), { maxLength: 3 }), fc.double(), text(), fc.boolean(), fc.constant(null))
      .map(asJson('not an object')),
    fc.integer({ min: 10, max: 20_000 }).map((depth) => ({
      payload: `${'{"deep":'.repeat(depth)}1${'}'.repeat(depth)}`,
      type: 'application/json',
      why: `an unknown field nested ${depth} deep`,
    })),
    fc.constant({ payload: JSON.stringify(valid), type: 'text/plain', why: 'JSON sent as text/plain' }),
  ]
  if (fields.length) {
    options.push(
      fc
        .constantFrom(...fields)
        .chain((field) => otherType(valid[field]).map((value) => ({ ...valid, [field]: value })))
        .map(asJson('a field of the wrong type')),
    )
  }
  const required = route.required.filter((field) => field in valid)
  if (required.length) {
    options.push(
      fc
        .constantFrom(...required)
        .map((field) => Object.fromEntries(Object.entries(valid).filter(([name]) => name !== field)))
        .map(asJson('a required field missing')),
    )
  }
  return fc.oneof(...options)
}

/** Bodies no route accepts: broken JSON, unsupported media types, too large. */
export const syntaxViolations: fc.Arbitrary<BadBody> = fc.oneof(
  text(60)
    .map((s) => `{${s}`)
    .filter((s) => {
      try {
        JSON.parse(s)
        return false
      } catch {
        return true
      }
    })
    .map((payload) => ({ payload, type: 'application/json', why: 'invalid JSON' })),
  fc.constantFrom("{'a': 1}", '{"a":1,}', '[1,2', 'NaN', '{"__proto__":{"x":1}}').map((payload) => ({
    payload,
    type: 'application/json',
    why: 'invalid JSON',
  })),
  fc
    .tuple(
      fc.constantFrom(
        'application/xml',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/octet-stream',
        'image/png',
      ),
      text(40).map((s) => `x${s}`),
    )
    .map(([type, payload]) => ({ payload, type, why: `unsupported ${type}` })),
  fc.constant({ payload: oversized, type: 'application/json', why: 'an oversized body' }),
)
