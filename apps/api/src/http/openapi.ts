import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger'
import { ErrorResponse } from '@slipway/contracts'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'
import { z } from 'zod'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers with a Server-Sent Events stream (documented as such). */
    eventStream?: string
  }
}

type Transform = NonNullable<FastifyDynamicSwaggerOptions['transform']>
type TransformObject = NonNullable<FastifyDynamicSwaggerOptions['transformObject']>

/**
 * Route schemas become OpenAPI through the zod transform; a streaming route documents its
 * `text/event-stream` answer (its `config.eventStream` describes the events) instead.
 */
export const transformRoute: Transform = (input) => {
  const out = jsonSchemaTransform(input)
  const events = input.route.config?.eventStream
  if (!events) return out
  return {
    ...out,
    schema: {
      ...out.schema,
      response: {
        200: {
          description: `A Server-Sent Events stream. ${events}`,
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        },
      },
    },
  }
}

const errorDescription =
  'Any error: { error: { code, message, details? } }. The status follows the code (docs/ERRORS.md); ' +
  'invalid input is 400 VALIDATION_FAILED with details [{ path, message }] per field.'

/** Every operation documents the one error shape as its `default` response. */
export const documentErrors: TransformObject = (document) => {
  if (!('openapiObject' in document)) return document.swaggerObject
  const api = document.openapiObject
  const schemas = {
    ...api.components?.schemas,
    Error: z.toJSONSchema(ErrorResponse, { target: 'openapi-3.0' }),
  }
  const paths = Object.fromEntries(
    Object.entries(api.paths ?? {}).map(([path, item]) => [
      path,
      Object.fromEntries(
        Object.entries(item ?? {}).map(([method, operation]) => {
          if (typeof operation !== 'object' || operation === null || !('responses' in operation)) {
            return [method, operation]
          }
          const responses = {
            ...operation.responses,
            default: {
              description: errorDescription,
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
            },
          }
          return [method, { ...operation, responses }]
        }),
      ),
    ]),
  )
  return { ...api, components: { ...api.components, schemas }, paths } as typeof api
}
