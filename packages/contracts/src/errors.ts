import { z } from 'zod'

/**
 * Every error Slipway reports has one of these stable codes. The API maps each code to an
 * HTTP status in one table (apps/api/src/http/errors.ts); docs/ERRORS.md describes them.
 */
export const errorCodes = [
  'VALIDATION_FAILED',
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
  'TIMEOUT',
  'CANCELED',
  'INTERNAL',
] as const

export const ErrorCode = z.enum(errorCodes)
export type ErrorCode = z.infer<typeof ErrorCode>

export const ErrorResponse = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    details: z.unknown().optional(),
  }),
})
export type ErrorResponse = z.infer<typeof ErrorResponse>
