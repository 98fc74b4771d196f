import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { createLogger } from '@slipway/core'
import {
  createTrafficSwitch,
  DiscoveryRegistry,
  GatewayAgent,
  HaproxyApplier,
  HaproxyProcess,
  TrafficRecorder,
  type TrafficSwitchOptions,
} from '@slipway/gateway'
import type { Fleet } from '@slipway/testing'
import { freePort } from '@slipway/testing/services'
import { Redis } from 'ioredis'
import type { DeployHost, TrafficSwitch } from '../types.ts'
import type { DemoRequestOptions } from './site.ts'

/** A Redis connection for a gateway outside vitest's fixtures (the benchmark). */
export function openRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, connectTimeout: 5000 })
}

export interface SiteGateway {
  /** The 127.0.0.1 port the site is served on. */
  port: number
  traffic: TrafficSwitch
  registry: DiscoveryRegistry
  close(): Promise<void>
}

export interface SiteGatewayOptions {
  redis: TrafficSwitchOptions['redis']
  /** Registry key prefix (tests use their unique one). */
  prefix: string
  project: string
  environment: string
  /** TTL of registrations; the health monitor's heartbeats refresh it. */
  ttlSeconds?: number
  /** Also run the traffic recorder (what the gateway saw, per second and release, in Redis). */
  record?: boolean
}

/**
 * The real gateway for one site: a private HAProxy, the gateway agent following the discovery
 * registry in Redis, and the traffic switch the executor uses. Stopped and removed by close().
 */
export async function startSiteGateway(options: SiteGatewayOptions): Promise<SiteGateway> {
  // Short: the folder holds HAProxy's unix sockets.
  const dir = await mkdtemp(path.join(tmpdir(), 'sdgw-'))
  const logger = createLogger({
    name: 'deploy-test-gateway',
    level: 'warn',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        process.stderr.write(chunk)
        done()
      },
    }),
  })
  const haproxy = await HaproxyProcess.start({ dir, port: await freePort() })
  const registry = new DiscoveryRegistry({ redis: options.redis, prefix: options.prefix, logger })
  const port = await freePort()
  const agent = new GatewayAgent({
    registry,
    applier: new HaproxyApplier({ target: haproxy.target, logger }),
    redis: options.redis,
    prefix: options.prefix,
    sites: async () => [{ project: options.project, environment: options.environment, listenPort: port }],
    logger,
    resyncMs: 200,
    sitesIntervalMs: 1000,
    retryMs: 500,
  })
  try {
    await agent.start()
  } catch (error) {
    await haproxy.stop()
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  const traffic = createTrafficSwitch({
    redis: options.redis,
    prefix: options.prefix,
    ttlSeconds: options.ttlSeconds ?? 60,
  })
  const recorder = options.record
    ? new TrafficRecorder({
        adminSocket: haproxy.target.adminSocket,
        redis: options.redis,
        prefix: options.prefix,
        logger,
      })
    : undefined
  recorder?.start()
  return {
    port,
    traffic,
    registry,
    async close() {
      await recorder?.stop()
      await agent.stop()
      registry.close()
      await haproxy.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** What a test's own site needs of vitest's fixtures. */
export interface SiteFixtures {
  fleet: Fleet
  redis: Redis
  redisPrefix: string
  testId: string
}

/**
 * A production site of the test's own on `hosts`: its gateway (closed by the caller), and
 * what every rollout request of it shares, with the log lines collected in `base.lines`.
 */
export async function siteOn(
  fixtures: SiteFixtures,
  hosts: DeployHost[],
  options: { ttlSeconds?: number; record?: boolean } = {},
): Promise<{
  project: string
  environment: string
  gateway: SiteGateway
  base: DemoRequestOptions & { lines: string[] }
}> {
  const project = `p${fixtures.testId}`
  const environment = 'production'
  const gateway = await startSiteGateway({
    redis: fixtures.redis,
    prefix: fixtures.redisPrefix,
    project,
    environment,
    ttlSeconds: options.ttlSeconds,
    record: options.record,
  })
  const base = {
    project,
    environment,
    hosts,
    traffic: gateway.traffic,
    registryAuth: { serveraddress: fixtures.fleet.registry.url, ...fixtures.fleet.registry },
    labels: { 'slipway.test': fixtures.testId },
    lines: [] as string[],
  }
  return { project, environment, gateway, base }
}
