import { Writable } from 'node:stream'
import type { Instance } from '@slipway/contracts'
import { createLogger, type Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import { GatewayAgent, type GatewayAgentOptions } from '../agent/agent.ts'
import type { GatewaySite } from '../agent/site-worker.ts'
import { DiscoveryRegistry } from '../discovery/registry.ts'
import { HaproxyApplier } from '../haproxy/applier.ts'
import type { HaproxyProcess } from '../haproxy/process.ts'

/** A logger whose lines the test can read. */
function captureLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { logger: createLogger({ name: 'gateway-test', level: 'info', destination }), lines }
}

export function instance(id: string, port: number, change: Partial<Instance> = {}): Instance {
  return {
    id,
    project: 'demo',
    environment: 'pre-release',
    release: 'r1',
    image: '127.0.0.1:5001/test/demo@sha256:0',
    host: 'pre-1',
    address: '127.0.0.1',
    port,
    containerId: `c-${id}`,
    ...change,
  }
}

export interface Harness {
  registry: DiscoveryRegistry
  logger: Logger
  lines: { level: number; msg: string }[]
  sites: GatewaySite[]
  /** A new agent on the fixture's HAProxy (not started). */
  agent(change?: Partial<GatewayAgentOptions>): GatewayAgent
  close(): Promise<void>
}

/** Registry + agents on a private HAProxy, all on the test's Redis prefix. */
export function harness(
  redis: Redis,
  prefix: string,
  haproxy: HaproxyProcess,
  sites: GatewaySite[],
): Harness {
  const { logger, lines } = captureLogger()
  const registry = new DiscoveryRegistry({ redis, prefix, logger })
  const agents: GatewayAgent[] = []
  return {
    registry,
    logger,
    lines,
    sites,
    agent(change = {}) {
      const agent = new GatewayAgent({
        registry,
        applier: new HaproxyApplier({ target: haproxy.target, logger }),
        redis,
        prefix,
        sites: async () => sites,
        logger,
        resyncMs: 200,
        sitesIntervalMs: 1000,
        retryMs: 500,
        drainPollMs: 50,
        ...change,
      })
      agents.push(agent)
      return agent
    },
    async close() {
      await Promise.all(agents.map((agent) => agent.stop()))
      registry.close()
    },
  }
}
