import { z } from 'zod'

/**
 * Every error Slipway reports has one of these stable codes. `errorTable` below gives each its
 * HTTP status and whether retrying can help; docs/ERRORS.md shows the same table (a test in
 * errors.test.ts keeps the two in step).
 */
export const errorCodes = [
  'VALIDATION_FAILED',
  'PRECONDITION_FAILED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'DEPENDENCY_UNAVAILABLE',
  'HOST_UNREACHABLE',
  'REGISTRY_UNREACHABLE',
  'REGISTRY_AUTH_FAILED',
  'BUILD_FAILED',
  'PUSH_FAILED',
  'PULL_FAILED',
  'CONTAINER_FAILED',
  'HEALTH_CHECK_FAILED',
  'CANARY_FAILED',
  'TIMEOUT',
  'CANCELED',
  'INTERNAL',
] as const

export const ErrorCode = z.enum(errorCodes)
export type ErrorCode = z.infer<typeof ErrorCode>

interface ErrorSpec {
  /** The HTTP status the API answers with. */
  status: 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 502 | 503 | 504
  /**
   * Whether trying the same work again later can succeed without anyone changing anything: a
   * worker retries a stage (or a job) that failed with a retryable code, and fails it at once
   * otherwise.
   */
  retryable: boolean
  /** What the code means, for people (docs/ERRORS.md). */
  meaning: string
}

/**
 * The one table of error codes (as Fastify's lib/errors.js keeps code, message and status in
 * one place). The API maps codes to statuses with it (apps/api/src/http/errors.ts) and the
 * worker decides retries with it (apps/worker/src/runtime.ts, stages/runner.ts).
 */
export const errorTable = {
  VALIDATION_FAILED: {
    status: 400,
    retryable: false,
    meaning: 'the request does not match its schema; nothing was changed (415 for a wrong content type)',
  },
  PRECONDITION_FAILED: {
    status: 409,
    retryable: false,
    meaning:
      'something the work needs is missing (a host address, a build host, a registry, an image); fix the setup, then retry',
  },
  UNAUTHENTICATED: { status: 401, retryable: false, meaning: 'no valid session or API token' },
  FORBIDDEN: { status: 403, retryable: false, meaning: 'authenticated, but the role does not allow this' },
  NOT_FOUND: { status: 404, retryable: false, meaning: 'no such resource (or route)' },
  CONFLICT: {
    status: 409,
    retryable: false,
    meaning: 'the change clashes with existing state (duplicate name, stage not in a state that allows it)',
  },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, meaning: 'the body exceeds the limit' },
  RATE_LIMITED: { status: 429, retryable: true, meaning: 'too many attempts; retry later' },
  DEPENDENCY_UNAVAILABLE: {
    status: 503,
    retryable: true,
    meaning: 'PostgreSQL, Redis or a remote service (a webhook target, GitLab) did not answer',
  },
  HOST_UNREACHABLE: {
    status: 503,
    retryable: true,
    meaning: 'a Docker host did not answer (socket missing, refused, timed out)',
  },
  REGISTRY_UNREACHABLE: {
    status: 503,
    retryable: true,
    meaning: 'the registry could not be reached from the Docker host',
  },
  REGISTRY_AUTH_FAILED: { status: 502, retryable: false, meaning: 'the registry refused the credentials' },
  BUILD_FAILED: {
    status: 502,
    retryable: false,
    meaning: "`docker build` failed; the message carries Docker's own error",
  },
  PUSH_FAILED: { status: 502, retryable: true, meaning: 'pushing the image failed for another reason' },
  PULL_FAILED: { status: 502, retryable: true, meaning: 'pulling the image failed for another reason' },
  CONTAINER_FAILED: {
    status: 502,
    retryable: false,
    meaning: 'creating, starting or stopping a container failed',
  },
  HEALTH_CHECK_FAILED: { status: 502, retryable: false, meaning: 'a new container never became healthy' },
  CANARY_FAILED: {
    status: 502,
    retryable: false,
    meaning:
      'a canary step crossed its thresholds (error rate, p99) as the gateway measured them; the old release serves again',
  },
  TIMEOUT: { status: 504, retryable: true, meaning: 'a remote call ran past its time limit' },
  CANCELED: { status: 409, retryable: false, meaning: 'the work was canceled by a person or superseded' },
  INTERNAL: { status: 500, retryable: false, meaning: 'a bug; the log has the details under the request id' },
} as const satisfies Record<ErrorCode, ErrorSpec>

/** The HTTP status the API answers an error with. */
export function httpStatusOf(code: ErrorCode): ErrorSpec['status'] {
  return errorTable[code].status
}

/** Whether work that failed with this code may succeed when tried again unchanged. */
export function isRetryableCode(code: ErrorCode): boolean {
  return errorTable[code].retryable
}

export const ErrorResponse = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    details: z.unknown().optional(),
  }),
})
export type ErrorResponse = z.infer<typeof ErrorResponse>
