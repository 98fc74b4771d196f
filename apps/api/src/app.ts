import type { IncomingMessage, ServerResponse } from 'node:http'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify'
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod'
import type { AppDeps } from './deps.ts'
import { healthRoutes } from './health/routes.ts'
import { registerErrorHandling } from './http/errors.ts'
import { serveDashboard } from './web/static.ts'

export type App = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>

export interface AppOptions {
  /** Built dashboard to serve at `/`; omitted in API-only tests. */
  webDist?: string
  /** Largest accepted request body in bytes. */
  bodyLimit?: number
}

/** Builds the API. Nothing listens yet: main.ts listens, tests use `app.inject()`. */
export async function buildApp(deps: AppDeps, options: AppOptions = {}): Promise<App> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
  }).withTypeProvider<ZodTypeProvider>()

  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  registerErrorHandling(app)

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Slipway API', version: '0.1.0', description: 'Continuous delivery for Docker hosts.' },
    },
    transform: jsonSchemaTransform,
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/api/docs' })

  await app.register(healthRoutes(deps))

  if (options.webDist) await serveDashboard(app, options.webDist)
  return app
}
