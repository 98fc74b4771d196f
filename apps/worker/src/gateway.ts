import { DiscoveryRegistry, GatewayAgent, NginxApplier, nginxTargetAt } from '@slipway/gateway'
import type { WorkerDeps } from './deps.ts'

/**
 * Runs the gateway agent for the nginx at `dir` (the fleet's GATEWAY_DIR): every environment
 * with a gateway port gets a site there, kept equal to the discovery registry. Several
 * workers may run it: a Redis lease serialises their changes to the same nginx.
 */
export async function startGateway(deps: WorkerDeps, dir: string): Promise<GatewayAgent> {
  const target = nginxTargetAt(dir)
  const agent = new GatewayAgent({
    registry: new DiscoveryRegistry({ redis: deps.redis, prefix: deps.prefix, logger: deps.logger }),
    applier: new NginxApplier({
      target,
      logger: deps.logger,
      lease: { redis: deps.redis, key: `${deps.prefix}:gateway-lease:${target.config}`, logger: deps.logger },
    }),
    redis: deps.redis,
    prefix: deps.prefix,
    logger: deps.logger,
    agentId: deps.workerId,
    sites: async () => {
      const environments = await deps.db.environment.findMany({
        where: { gatewayPort: { not: null } },
        include: { project: { select: { slug: true } } },
      })
      return environments.map((env) => ({
        project: env.project.slug,
        environment: env.name,
        listenPort: env.gatewayPort!,
      }))
    },
  })
  await agent.start()
  return agent
}
