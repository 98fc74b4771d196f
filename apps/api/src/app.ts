import type { IncomingMessage, ServerResponse } from 'node:http'
import fastifyCompress from '@fastify/compress'
import fastifyCookie from '@fastify/cookie'
import fastifyHelmet from '@fastify/helmet'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type RawServerDefault,
} from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { auditRoutes } from './audit/routes.ts'
import { registerActor } from './auth/actor.ts'
import { authRoutes } from './auth/routes.ts'
import { configRoutes } from './config/routes.ts'
import type { AppDeps } from './deps.ts'
import { environmentOperationRoutes } from './environments/operations.ts'
import { environmentRoutes } from './environments/routes.ts'
import { healthRoutes } from './health/routes.ts'
import { hostRoutes } from './hosts/routes.ts'
import { registerErrorHandling } from './http/errors.ts'
import { documentErrors, transformRoute } from './http/openapi.ts'
import { liveRoutes } from './live/routes.ts'
import { notificationRoutes } from './notifications/routes.ts'
import { pipelineActionRoutes } from './pipelines/actions.ts'
import { canaryRoutes } from './pipelines/canary.ts'
import { logRoutes } from './pipelines/logs.ts'
import { pipelineRoutes } from './pipelines/routes.ts'
import { memberRoutes } from './projects/members.ts'
import { projectRoutes } from './projects/routes.ts'
import { registryRoutes } from './registries/routes.ts'
import { type ApiSettings, defaultSettings } from './settings.ts'
import { tokenRoutes } from './tokens/routes.ts'
import { userRoutes } from './users/routes.ts'
import { contentSecurityPolicy, serveDashboard } from './web/static.ts'
import { webhookDeliveryRoutes } from './webhooks/deliveries.ts'
import { gitlabWebhookRoutes } from './webhooks/gitlab.ts'

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
  /** Security and capacity settings (env.ts); defaults for what is not given. */
  settings?: Partial<ApiSettings>
}

/** Builds the API. Nothing listens yet: main.ts listens, tests use `app.inject()`. */
export async function buildApp(deps: AppDeps, options: AppOptions = {}): Promise<App> {
  const settings: ApiSettings = { ...defaultSettings, ...options.settings }
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // request.ip and request.protocol come from X-Forwarded-* only when the peer is one of these.
    trustProxy: settings.trustedProxies.length ? settings.trustedProxies : false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    // The router's own refusals (a malformed %-escape, a path parameter over the length limit)
    // get the same error shape as everything else.
    frameworkErrors: (error, _request, reply) => {
      void (reply as unknown as FastifyReply)
        .status(400)
        .send({ error: { code: 'VALIDATION_FAILED', message: `the URL is not valid: ${error.message}` } })
    },
  }).withTypeProvider<ZodTypeProvider>()

  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  registerErrorHandling(app)

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Slipway API', version: '0.1.0', description: 'Continuous delivery for Docker hosts.' },
      components: {
        securitySchemes: {
          token: { type: 'http', scheme: 'bearer', description: 'A personal API token (slp_...)' },
          session: { type: 'apiKey', in: 'cookie', name: 'slipway_session' },
        },
      },
      security: [{ token: [] }, { session: [] }],
    },
    transform: transformRoute,
    transformObject: documentErrors,
  })
  await app.register(fastifySwaggerUi, {
    routePrefix: '/api/docs',
    // Swagger UI writes <style> elements: its pages (not the dashboard) allow inline styles
    // (and no hash beside, or the browser ignores 'unsafe-inline').
    transformStaticCSP: (header) => header.replace(/style-src [^;]*/, "style-src 'self' 'unsafe-inline'"),
  })

  // JSON and the dashboard's files; SSE streams are hijacked and never compressed.
  await app.register(fastifyCompress, { threshold: 2048, encodings: ['gzip', 'deflate'] })
  await app.register(fastifyCookie)
  // Security headers on every answer; the CSP is one the dashboard passes (tested in Chromium).
  const https = settings.publicUrl.startsWith('https:')
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: await contentSecurityPolicy(options.webDist, { https }),
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'same-origin' },
    strictTransportSecurity: https ? { maxAge: 180 * 24 * 60 * 60 } : false,
  })
  registerActor(app, deps, settings)

  await app.register(healthRoutes(deps))
  await app.register(authRoutes(deps, settings))
  await app.register(liveRoutes(deps, settings))
  for (const routes of [
    tokenRoutes,
    userRoutes,
    projectRoutes,
    memberRoutes,
    environmentRoutes,
    configRoutes,
    hostRoutes,
    registryRoutes,
    pipelineRoutes,
    pipelineActionRoutes,
    canaryRoutes,
    logRoutes,
    environmentOperationRoutes,
    notificationRoutes,
    gitlabWebhookRoutes,
    webhookDeliveryRoutes,
    auditRoutes,
  ]) {
    await app.register(routes(deps))
  }

  if (options.webDist) await serveDashboard(app, options.webDist)
  return app
}
