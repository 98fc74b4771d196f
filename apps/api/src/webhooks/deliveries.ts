import { WebhookDelivery } from '@slipway/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'

/** The latest webhook deliveries of a project with their outcomes. */
export function webhookDeliveryRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/projects/:project/webhook-deliveries',
      {
        schema: {
          tags: ['webhooks'],
          params: z.object({ project: z.string().min(1).max(100) }),
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
          response: { 200: z.array(WebhookDelivery) },
        },
      },
      async (request) => {
        const { project } = await requireProject(deps, request, request.params.project, 'webhook.manage')
        return deps.db.webhookDelivery.findMany({
          where: { projectId: project.id },
          orderBy: { receivedAt: 'desc' },
          take: request.query.limit,
        })
      },
    )
  }
}
