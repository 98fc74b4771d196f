import type { Instance } from '@slipway/contracts'
import { AppError, isAppError, type Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import { type GatewayAck, readAck } from '../agent/ack.ts'
import { DiscoveryRegistry } from '../discovery/registry.ts'
import { sleep } from '../support/bounded.ts'

export interface TrafficSwitchOptions {
  redis: Redis
  /** The registry's (and gateway agent's) key prefix. */
  prefix: string
  /** TTL of the registrations `add` makes; the health monitor's heartbeats refresh it. Default 30. */
  ttlSeconds?: number
  /** How long `add`/`remove` wait for the gateway to acknowledge. Default 30 s. */
  timeoutMs?: number
  /** How often the acknowledgement is read while waiting. Default 50 ms. */
  pollMs?: number
  logger?: Logger
}

/** Structurally the `TrafficSwitch` of @slipway/deploy. */
export interface GatewayTrafficSwitch {
  /** Registers the instance; resolves once the gateway's live config routes to it. */
  add(instance: Instance, signal: AbortSignal): Promise<void>
  /** Deregisters the instance; resolves once the gateway's live config no longer has it. */
  remove(instance: Instance, signal: AbortSignal): Promise<void>
}

function serves(ack: GatewayAck | undefined, instance: Instance): boolean {
  return !!ack?.instances.some(
    (served) => served.id === instance.id && served.host === instance.host && served.port === instance.port,
  )
}

/**
 * Moves traffic through the discovery registry and the gateway agent: `add` registers and
 * waits for the agent's acknowledgement that nginx routes to the instance; `remove`
 * deregisters and waits until it does not. A failed or canceled `add` deregisters again.
 */
export function createTrafficSwitch(options: TrafficSwitchOptions): GatewayTrafficSwitch {
  const registry = new DiscoveryRegistry({
    redis: options.redis,
    prefix: options.prefix,
    logger: options.logger,
  })
  const ttlSeconds = options.ttlSeconds ?? 30
  const timeoutMs = options.timeoutMs ?? 30_000
  const pollMs = options.pollMs ?? 50

  async function waitFor(
    instance: Instance,
    wanted: (ack: GatewayAck | undefined) => boolean,
    action: string,
    signal: AbortSignal,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const ack = await readAck(options.redis, options.prefix, instance.project, instance.environment, {
        signal,
      })
      if (wanted(ack)) return
      if (Date.now() > deadline) {
        const site = `${instance.project}/${instance.environment}`
        const last = ack
          ? `its live config ${ack.version} holds ${ack.instances.map((i) => i.id).join(', ') || 'no instance'}`
          : 'no gateway agent has acknowledged this site (is one serving it?)'
        throw new AppError(
          'TIMEOUT',
          `the gateway of ${site} did not ${action} instance ${instance.id} within ${timeoutMs} ms: ${last}`,
          {
            details: { site, instance: instance.id, ack },
          },
        )
      }
      await sleep(pollMs, signal)
    }
  }

  return {
    async add(instance, signal) {
      await registry.register(instance, ttlSeconds, { signal })
      try {
        await waitFor(instance, (ack) => serves(ack, instance), 'route to', signal)
      } catch (error) {
        await registry
          .deregister(instance)
          .catch((undo: unknown) =>
            options.logger?.warn(
              { err: undo, instance: instance.id },
              'could not deregister after a failed add',
            ),
          )
        throw isAppError(error) ? error : new AppError('INTERNAL', String(error), { cause: error })
      }
    },
    async remove(instance, signal) {
      await registry.deregister(instance, { signal })
      await waitFor(instance, (ack) => !serves(ack, instance), 'stop routing to', signal)
    },
  }
}
