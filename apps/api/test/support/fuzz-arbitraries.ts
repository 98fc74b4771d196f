import fc from 'fast-check'
import { schemaViolations, syntaxViolations, text } from './fuzz-bodies.ts'
import type { QueryParam, RouteModel } from './fuzz-model.ts'

/** A request the fuzz test sends, and why it must be refused (for the failure message). */
export interface FuzzRequest {
  method: string
  url: string
  headers: Record<string, string>
  payload?: string
  why: string
}

/**
 * A path value naming nothing: never a slug or a uuid that exists, never a hex container id,
 * within the router's 100 characters. Percent-encoded, so always a well-formed URL.
 */
const junkPathValue = fc
  .oneof(
    text(30).map((s) => `x${s}`),
    fc.uuid(),
    fc.constantFrom('..', '.', '%', '0', '-1', 'null', '__proto__', 'constructor', "'; select 1; --", 'é'),
  )
  .filter((value) => encodeURIComponent(value).length <= 90)

/** A value for a query parameter that its schema refuses. */
function invalidQueryValue(param: QueryParam): fc.Arbitrary<string> {
  const options: fc.Arbitrary<string>[] = []
  if (param.type === 'integer' || param.type === 'number') {
    options.push(text(10).map((s) => `x${s}`))
    if (param.minimum !== undefined) options.push(fc.constant(String(param.minimum - 1)))
    if (param.maximum !== undefined) options.push(fc.constant(String(param.maximum + 1)))
    if (param.type === 'integer') options.push(fc.constant('1.5'))
  }
  if (param.enum) options.push(text(10).map((s) => `x${s}`))
  if (param.format === 'uuid') options.push(text(20).map((s) => `x${s}`))
  if (param.format === 'date-time') options.push(fc.constantFrom('2024-13-45T99:99:99Z', 'yesterday', '1e9'))
  if (param.maxLength !== undefined) {
    const max = param.maxLength
    options.push(fc.integer({ min: 1, max: 50 }).map((extra) => 'a'.repeat(max + extra)))
  }
  return options.length ? fc.oneof(...options) : fc.constant('')
}

/** Query parameters a schema constrains (free text like `ref` is not constrained by length alone). */
const constrained = (param: QueryParam) =>
  param.type === 'integer' ||
  param.type === 'number' ||
  param.enum !== undefined ||
  param.format === 'uuid' ||
  param.format === 'date-time' ||
  param.maxLength !== undefined

/** Headers that may come along with any request; none of them is a reason to accept it. */
const noiseHeaders: fc.Arbitrary<Record<string, string>> = fc
  .subarray([
    ['x-request-id', 'r'.repeat(2000)],
    ['accept', 'application/xml;q=0.1, */*;q=bogus'],
    ['x-forwarded-for', 'not-an-ip, 999.1.1.1'],
    ['idempotency-key', 'k'.repeat(500)],
    ['x-gitlab-event', 'Push Hook'],
    ['x-gitlab-token', 'not-the-secret'],
    ['x-csrf-token', 'forged'],
    ['user-agent', '\'"<>'],
  ] as const)
  .map((pairs) => Object.fromEntries(pairs))

const badAuthorization = fc.oneof(
  fc.constant('Bearer '),
  fc.stringMatching(/^[A-Za-z0-9_]{1,60}$/).map((token) => `Bearer ${token}`),
  fc.constant(`Bearer slp_${'a'.repeat(5000)}`),
)

interface Reason {
  why: string
  headers?: Record<string, string>
  params?: Record<string, string>
  /** Put in the path as they are: broken percent-encoding, over-long segments. */
  rawParams?: Record<string, string>
  query?: string
  payload?: string
}

/** One request to `route` that must be refused, and the reason. */
export function malformed(route: RouteModel, adminAuth: string): fc.Arbitrary<FuzzRequest> {
  const reasons: fc.Arbitrary<Reason>[] = [
    badAuthorization.map((authorization) => ({ headers: { authorization }, why: 'bad credentials' })),
  ]
  if (route.params.length) {
    reasons.push(
      fc
        .tuple(fc.constantFrom(...route.params), fc.constantFrom('%zz', '%E0%A4%A', 'a'.repeat(150)))
        .map(([name, value]): Reason => ({ rawParams: { [name]: value }, why: `:${name} malformed` })),
    )
    reasons.push(
      fc
        .constantFrom(...route.params)
        .chain((name) =>
          junkPathValue.map(
            (value): Reason => ({ params: { [name]: value }, why: `:${name} names nothing` }),
          ),
        ),
    )
  }
  const queryParams = route.query.filter(constrained)
  if (queryParams.length) {
    reasons.push(
      fc.constantFrom(...queryParams).chain((param) =>
        fc.oneof(
          invalidQueryValue(param).map(
            (value): Reason => ({
              query: `${param.name}=${encodeURIComponent(value)}`,
              why: `?${param.name} invalid`,
            }),
          ),
          fc.constant<Reason>({ query: `${param.name}=1&${param.name}=2`, why: `?${param.name} repeated` }),
        ),
      ),
    )
  }
  if (route.method !== 'GET') {
    const bodies =
      route.body === 'strict' ? fc.oneof(syntaxViolations, schemaViolations(route)) : syntaxViolations
    reasons.push(
      bodies.map(({ payload, type, why }): Reason => ({ payload, headers: { 'content-type': type }, why })),
    )
  }
  return fc.tuple(fc.oneof(...reasons), noiseHeaders).map(([reason, noise]) => {
    const params = { ...route.existing, ...reason.params }
    const path = route.url.replaceAll(
      /:([A-Za-z0-9_]+)/g,
      (_, name: string) => reason.rawParams?.[name] ?? encodeURIComponent(params[name] ?? 'x-missing'),
    )
    return {
      method: route.method,
      url: reason.query ? `${path}?${reason.query}` : path,
      headers: { ...noise, authorization: adminAuth, ...reason.headers },
      ...(reason.payload === undefined ? {} : { payload: reason.payload }),
      why: reason.why,
    }
  })
}

/** Query parameters that take text (cursors, filters): any text may be valid. */
export const textParams = (route: RouteModel) =>
  route.query.filter((p) => p.type === 'string' && !p.enum && !p.format)

/** Text at and past the limits of integers, for parameters that turn text into numbers. */
export const edgeTexts = ['0', '-1', '2147483648', '-2147483649', '9223372036854775808', '1e400', ' ', 'NaN']

/** Junk in places where junk may be harmless: unknown query parameters, noise headers. */
export function harmless(route: RouteModel, adminAuth: string): fc.Arbitrary<FuzzRequest> {
  const query = fc
    .array(fc.tuple(text(12), text(30)), { maxLength: 4 })
    .map((pairs) =>
      pairs.map(([k, v]) => `${encodeURIComponent(`x${k}`)}=${encodeURIComponent(v)}`).join('&'),
    )
  const texts = textParams(route)
  const free = texts.length
    ? fc
        .tuple(fc.constantFrom(...texts), fc.oneof(text(30), fc.constantFrom(...edgeTexts)))
        .map(([p, v]) => `${p.name}=${encodeURIComponent(v)}`)
    : fc.constant('')
  return fc.tuple(query, free, noiseHeaders).map(([q, f, noise]) => {
    const path = route.url.replaceAll(/:([A-Za-z0-9_]+)/g, (_, name: string) =>
      encodeURIComponent(route.existing?.[name] ?? ''),
    )
    const search = [q, f].filter(Boolean).join('&')
    return {
      method: route.method,
      url: search ? `${path}?${search}` : path,
      headers: { ...noise, authorization: adminAuth },
      why: 'harmless junk',
    }
  })
}
