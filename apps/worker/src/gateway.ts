import { DeployStrategy } from '@slipway/contracts'
import {
  DiscoveryRegistry,
  GatewayAgent,
  HaproxyApplier,
  haproxyTargetAt,
  TrafficRecorder,
} from '@slipway/gateway'
import type { WorkerDeps } from './deps.ts'

/** The gateway parts a worker runs: the agent and the traffic recorder. */
export interface RunningGateway {
  agent: GatewayAgent
  recorder: TrafficRecorder
  stop(): Promise<void>
}

/**
 * Runs the gateway agent for the HAProxy of the folder `dir` (the fleet's GATEWAY_DIR): every
 * environment with a gateway port gets a site there, kept equal to the discovery registry
 * through HAProxy's Runtime API. Several workers may run it: a Redis lease serialises their
 * changes to the same HAProxy. Beside it, the traffic recorder writes what HAProxy logs of
 * every request (per site and second) for the deploys' figures; one writes at a time.
 */
export async function startGateway(
  deps: WorkerDeps,
  dir: string,
  bindAddress?: string,
): Promise<RunningGateway> {
  const target = haproxyTargetAt(dir)
  const agent = new GatewayAgent({
    registry: new DiscoveryRegistry({ redis: deps.redis, prefix: deps.prefix, logger: deps.logger }),
    applier: new HaproxyApplier({
      target,
      logger: deps.logger,
      lease: { redis: deps.redis, key: `${deps.prefix}:gateway-lease:${target.config}`, logger: deps.logger },
    }),
    redis: deps.redis,
    prefix: deps.prefix,
    logger: deps.logger,
    agentId: deps.workerId,
    bindAddress,
    sites: async () => {
      const environments = await deps.db.environment.findMany({
        where: { gatewayPort: { not: null } },
        include: { project: { select: { slug: true } } },
      })
      return environments.map((env) => ({
        project: env.project.slug,
        environment: env.name,
        listenPort: env.gatewayPort!,
        sticky: DeployStrategy.parse(env.strategy).canary?.sticky === true,
      }))
    },
  })
  const recorder = new TrafficRecorder({
    adminSocket: target.adminSocket,
    redis: deps.redis,
    prefix: deps.prefix,
    logger: deps.logger,
  })
  await agent.start()
  recorder.start()
  return {
    agent,
    recorder,
    async stop() {
      await Promise.all([agent.stop(), recorder.stop()])
    },
  }
}
