import { ErrorResponse } from '@slipway/contracts'

/** Anything with zod's `parse`: the contract schemas. */
export interface Parser<T> {
  parse(input: unknown): T
}

/** An API error in plain words, with per-field messages for validation failures. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Field path (as in the request body, e.g. `appSpec.containerPort`) -> message. */
    readonly fields: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

const defaultTimeoutMs = 20_000
let csrfToken: string | null = null
let unauthenticated: (() => void) | undefined

/** The session's CSRF token, sent as X-CSRF-Token on every write. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token
}

/** Called when the API says the session is gone (401), to show the sign-in page. */
export function onUnauthenticated(handler: () => void): void {
  unauthenticated = handler
}

/** `body.appSpec.containerPort` -> `appSpec.containerPort` (the form field's name). */
export function fieldName(path: string): string {
  return path.replace(/^(body|querystring|params)\.?/, '')
}

/** Turns an error answer into an ApiError; anything unexpected still reads as words. */
export function toApiError(status: number, json: unknown): ApiError {
  const parsed = ErrorResponse.safeParse(json)
  if (!parsed.success) return new ApiError(status, 'INTERNAL', `the server answered ${status}`)
  const { code, message, details } = parsed.data.error
  const fields: Record<string, string> = {}
  const list = (details as { fields?: unknown } | undefined)?.fields
  if (Array.isArray(list)) {
    for (const item of list as { path?: unknown; message?: unknown }[]) {
      if (typeof item.path === 'string' && typeof item.message === 'string')
        fields[fieldName(item.path)] = item.message
    }
  }
  return new ApiError(status, code, message, fields)
}

interface CallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

async function call<T>(
  method: string,
  path: string,
  body: unknown,
  parser: Parser<T> | null,
  options: CallOptions = {},
): Promise<T> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? defaultTimeoutMs)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  const headers: Record<string, string> = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken
  let response: Response
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    })
  } catch (error) {
    if (options.signal?.aborted) throw error
    if (timeout.aborted) throw new ApiError(0, 'TIMEOUT', 'Slipway did not answer in time; try again')
    throw new ApiError(0, 'DEPENDENCY_UNAVAILABLE', 'cannot reach Slipway; check your connection')
  }
  const text = await response.text()
  let json: unknown = null
  try {
    json = text ? JSON.parse(text) : null
  } catch (error) {
    // Not JSON (a proxy's HTML error page, say): judged by its status alone below.
    if (!(error instanceof SyntaxError)) throw error
    json = null
  }
  if (!response.ok) {
    const error = toApiError(response.status, json)
    if (response.status === 401 && !path.startsWith('/api/auth/')) unauthenticated?.()
    throw error
  }
  if (!parser) return undefined as T
  try {
    return parser.parse(json)
  } catch (error) {
    console.error('unexpected answer', path, error)
    throw new ApiError(response.status, 'INTERNAL', 'the server answered in a shape this page does not know')
  }
}

export const api = {
  get: <T>(path: string, parser: Parser<T>, options?: CallOptions) =>
    call('GET', path, undefined, parser, options),
  post: <T>(path: string, body: unknown, parser: Parser<T>, options?: CallOptions) =>
    call('POST', path, body, parser, options),
  put: <T>(path: string, body: unknown, parser: Parser<T>, options?: CallOptions) =>
    call('PUT', path, body, parser, options),
  patch: <T>(path: string, body: unknown, parser: Parser<T>, options?: CallOptions) =>
    call('PATCH', path, body, parser, options),
  delete: (path: string, options?: CallOptions) => call<void>('DELETE', path, undefined, null, options),
}

/** Builds `path?a=1&b=2` leaving out empty values. */
export function withQuery(path: string, query: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
  }
  const text = params.toString()
  return text ? `${path}?${text}` : path
}
