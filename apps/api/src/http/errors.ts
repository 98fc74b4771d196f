import { type ErrorCode, type ErrorResponse, httpStatusOf } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { isDatabaseUnreachable, Prisma } from '@slipway/db'
import type { FastifyError, FastifyInstance } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'

function body(code: ErrorCode, message: string, details?: unknown): ErrorResponse {
  return { error: details === undefined ? { code, message } : { code, message, details } }
}

/** Field-level details for a validation failure: [{ path: "body.name", message }]. */
function validationDetails(error: FastifyError): { path: string; message: string }[] {
  const context = error.validationContext ?? 'body'
  return (error.validation ?? []).map((issue) => {
    const instancePath = (issue as { instancePath?: string }).instancePath ?? ''
    const segments = instancePath.split('/').filter(Boolean)
    return { path: [context, ...segments].join('.'), message: issue.message ?? 'invalid' }
  })
}

/** Columns that scope a unique name (e.g. environment names are unique per project). */
const scopeFields = new Set(['projectId', 'environmentId', 'userId', 'configVersionId', 'pipelineId'])

/** The columns of the violated unique constraint, from Prisma's metadata or the index name. */
function uniqueFields(meta: Record<string, unknown> | undefined): string[] {
  const target = meta?.target
  if (Array.isArray(target)) return target.map(String)
  const cause = (
    meta?.driverAdapterError as {
      cause?: { constraint?: { index?: string; fields?: string[] }; table?: string }
    }
  )?.cause
  if (cause?.constraint?.fields) return cause.constraint.fields
  const index = cause?.constraint?.index
  const table = cause?.table
  if (index && table && index.startsWith(`${table}_`) && index.endsWith('_key')) {
    return index.slice(table.length + 1, -'_key'.length).split('_')
  }
  return []
}

/** PostgreSQL's SQLSTATE behind a Prisma error, when the driver adapter reports one. */
function sqlState(meta: Record<string, unknown> | undefined): string | undefined {
  const cause = (meta?.driverAdapterError as { cause?: { originalCode?: string } } | undefined)?.cause
  return cause?.originalCode
}

/** Constraint violations the database reports, as Slipway errors (unique -> 409, missing -> 404). */
function databaseError(error: unknown): AppError | undefined {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return undefined
  if (isDatabaseUnreachable(error))
    return new AppError('DEPENDENCY_UNAVAILABLE', 'the database is not reachable; retry shortly', {
      details: { retryAfterSeconds: 1 },
    })
  // 22021: text PostgreSQL cannot store, i.e. a NUL character somewhere in the input.
  if (sqlState(error.meta) === '22021')
    return new AppError('VALIDATION_FAILED', 'text must not contain NUL (\\u0000) characters')
  switch (error.code) {
    case 'P2002': {
      const fields = uniqueFields(error.meta).filter((field) => !scopeFields.has(field))
      return new AppError('CONFLICT', `${fields.join(', ') || 'a unique value'} is already taken`, {
        details: { fields: fields.map((field) => ({ path: `body.${field}`, message: 'already taken' })) },
      })
    }
    case 'P2025':
      return new AppError('NOT_FOUND', 'the record does not exist (any more)')
    case 'P2003':
      return new AppError('CONFLICT', 'the change refers to, or is referred to by, another record')
    case 'P2028':
      // No connection for a transaction in time: the database is saturated, not the request wrong.
      return new AppError('DEPENDENCY_UNAVAILABLE', 'the database is busy; retry shortly', {
        details: { retryAfterSeconds: 1 },
      })
    default:
      return undefined
  }
}

/** A lone surrogate: half of a UTF-16 pair, text that has no UTF-8 form and would be stored as U+FFFD. */
const loneSurrogate = /\p{Cs}/u

/**
 * Paths of the strings (and keys) that cannot be stored as they were sent: holding a NUL
 * character, which PostgreSQL refuses, or a lone surrogate, which would silently become
 * U+FFFD (and breaks some encoders outright). Walks without recursion: a body may legally
 * nest deeper than the call stack.
 */
function unstorablePaths(root: unknown, context: string): { nul: string[]; surrogate: string[] } {
  const nul: string[] = []
  const surrogate: string[] = []
  const check = (text: string, path: string) => {
    if (text.includes('\u0000')) nul.push(path)
    else if (loneSurrogate.test(text)) surrogate.push(path)
  }
  const pending: [unknown, string][] = [[root, context]]
  while (pending.length && nul.length + surrogate.length < 20) {
    const [value, path] = pending.pop() as [unknown, string]
    if (typeof value === 'string') check(value, path)
    else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        check(key, `${path}.${key.replaceAll('\u0000', '\\u0000').replaceAll(/\p{Cs}/gu, '\uFFFD')}`)
        pending.push([item, `${path}.${key}`])
      }
    }
  }
  return { nul: nul.sort(), surrogate: surrogate.sort() }
}

/** Every error leaves the API as `{ error: { code, message, details? } }`. */
export function registerErrorHandling(app: FastifyInstance): void {
  // Text with a NUL or a lone surrogate is refused before any handler runs, naming the fields that hold it.
  app.addHook('preValidation', async (request) => {
    const parts = [
      unstorablePaths(request.params, 'params'),
      unstorablePaths(request.query, 'querystring'),
      unstorablePaths(request.body, 'body'),
    ]
    const nul = parts.flatMap((part) => part.nul)
    if (nul.length) {
      throw new AppError('VALIDATION_FAILED', 'text must not contain NUL (\\u0000) characters', {
        details: { fields: nul.map((path) => ({ path, message: 'contains a NUL (\\u0000) character' })) },
      })
    }
    const surrogate = parts.flatMap((part) => part.surrogate)
    if (surrogate.length) {
      throw new AppError(
        'VALIDATION_FAILED',
        'text must be valid Unicode: a lone surrogate cannot be stored',
        {
          details: {
            fields: surrogate.map((path) => ({
              path,
              message: 'contains a lone surrogate (not valid Unicode)',
            })),
          },
        },
      )
    }
  })
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      const status = httpStatusOf(error.code)
      if (status >= 500) request.log.error({ err: error }, 'request failed')
      return reply.status(status).send(body(error.code, error.message, error.details))
    }
    const fromDb = databaseError(error)
    if (fromDb) {
      if (fromDb.code === 'DEPENDENCY_UNAVAILABLE') {
        request.log.warn({ err: error }, fromDb.message)
        reply.header('retry-after', '1')
      }
      return reply.status(httpStatusOf(fromDb.code)).send(body(fromDb.code, fromDb.message, fromDb.details))
    }
    if (hasZodFastifySchemaValidationErrors(error) || error.validation) {
      return reply
        .status(400)
        .send(body('VALIDATION_FAILED', 'the request is not valid', { fields: validationDetails(error) }))
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.status(413).send(body('PAYLOAD_TOO_LARGE', 'the request body is too large'))
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply
          .status(415)
          .send(body('VALIDATION_FAILED', 'unsupported content type; send application/json'))
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return reply.status(400).send(body('VALIDATION_FAILED', 'the request body is not valid JSON'))
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      if (error.statusCode === 429) return reply.status(429).send(body('RATE_LIMITED', error.message))
      return reply.status(error.statusCode).send(body('VALIDATION_FAILED', error.message))
    }
    request.log.error({ err: error }, 'unhandled error')
    return reply.status(500).send(body('INTERNAL', 'internal error'))
  })

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(body('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`))
  })
}
