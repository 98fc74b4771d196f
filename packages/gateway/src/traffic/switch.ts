import type { Instance } from '@slipway/contracts'
import { AppError, isAppError, type Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import { type GatewayAck, readAck } from '../agent/ack.ts'
import { DiscoveryRegistry } from '../discovery/registry.ts'
import { canonicalAddress } from '../haproxy/render.ts'
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

/** A gateway change that took instances out: lets the caller wait for their requests. */
export interface TrafficChange {
  /**
   * Resolves true once the servers the change took out hold no request any more and are
   * deleted from HAProxy (the ack's `drained` reached the change's generation), false when
   * `maxMs` passed first or the gateway cannot tell. 0 or less: false at once.
   */
  drained(maxMs: number, signal: AbortSignal): Promise<boolean>
}

/** Structurally the `TrafficSwitch` of @slipway/deploy. */
export interface GatewayTrafficSwitch {
  /** Registers the instance; resolves once the gateway's live config routes to it. */
  add(instance: Instance, signal: AbortSignal): Promise<void>
  /** Deregisters the instance; resolves once the gateway's live config no longer has it. */
  remove(instance: Instance, signal: AbortSignal): Promise<TrafficChange>
  /**
   * Registers `adding` and deregisters `removing` (one site) in one gateway change; resolves
   * once the live config routes to every one of `adding` and to none of `removing`. On
   * failure the registry is put back as it was (`removing` in, `adding` out).
   */
  swap(
    adding: readonly Instance[],
    removing: readonly Instance[],
    signal: AbortSignal,
  ): Promise<TrafficChange>
  /**
   * Gives instances of one site that the gateway routes to the weights they carry (absent:
   * 1) in one gateway change; resolves once HAProxy routes by them (through the Runtime API, no
   * reload). A canary's steps move the new version's share this way.
   */
  weigh(instances: readonly Instance[], signal: AbortSignal): Promise<void>
}

/** Whether the ack's servers include the instance at its weight. */
function weighs(ack: GatewayAck | undefined, instance: Instance): boolean {
  return !!ack?.instances.some(
    (served) => served.id === instance.id && (served.weight ?? 1) === (instance.weight ?? 1),
  )
}

/** A change that took nothing out. */
const nothingToDrain: TrafficChange = { drained: async () => true }

/** Whether the ack's servers include the instance: same id, address and port. */
function serves(ack: GatewayAck | undefined, instance: Instance): boolean {
  const address = canonicalAddress(instance.address)
  return !!ack?.instances.some(
    (served) =>
      served.id === instance.id &&
      canonicalAddress(served.address) === address &&
      served.port === instance.port,
  )
}

/**
 * Moves traffic through the discovery registry and the gateway agent: `add` registers and
 * waits for the agent's acknowledgement that HAProxy routes to the instance; `remove`
 * deregisters and waits until HAProxy sends it no new request (its server drains). A failed
 * or canceled `add` deregisters again.
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

  const readSite = (site: Instance, signal: AbortSignal) =>
    readAck(options.redis, options.prefix, site.project, site.environment, { signal })

  async function waitFor(
    site: Instance,
    wanted: (ack: GatewayAck | undefined) => boolean,
    action: string,
    signal: AbortSignal,
  ): Promise<GatewayAck | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const ack = await readSite(site, signal)
      if (wanted(ack)) return ack
      if (Date.now() > deadline) {
        const name = `${site.project}/${site.environment}`
        const last = ack
          ? `its live config ${ack.version} holds ${ack.instances.map((i) => i.id).join(', ') || 'no instance'}`
          : 'no gateway agent has acknowledged this site (is one serving it?)'
        throw new AppError(
          'TIMEOUT',
          `the gateway of ${name} did not ${action} within ${timeoutMs} ms: ${last}`,
          {
            details: { site: name, ack },
          },
        )
      }
      await sleep(pollMs, signal)
    }
  }

  /** The change acknowledged in `ack`: drained once the agent reports its generation drained. */
  function changeOf(site: Instance, ack: GatewayAck | undefined): TrafficChange {
    const generation = ack?.generation
    return {
      async drained(maxMs, signal) {
        if (generation === undefined || maxMs <= 0) {
          if (maxMs > 0) await sleep(maxMs, signal)
          return false
        }
        const deadline = Date.now() + maxMs
        for (;;) {
          const now = await readSite(site, signal)
          if ((now?.drained ?? 0) >= generation) return true
          const left = deadline - Date.now()
          if (left <= 0) return false
          await sleep(Math.min(pollMs, left), signal)
        }
      },
    }
  }

  const ids = (instances: readonly Instance[]) => instances.map((i) => i.id).join(', ')

  return {
    async add(instance, signal) {
      await registry.register(instance, ttlSeconds, { signal })
      try {
        await waitFor(instance, (ack) => serves(ack, instance), `route to instance ${instance.id}`, signal)
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
      const ack = await waitFor(
        instance,
        (ack) => !serves(ack, instance),
        `stop routing to instance ${instance.id}`,
        signal,
      )
      return changeOf(instance, ack)
    },
    async weigh(instances, signal) {
      const site = instances[0]
      if (!site) return
      await registry.swap(instances, [], ttlSeconds, { signal })
      await waitFor(
        site,
        (ack) => instances.every((i) => weighs(ack, i)),
        `weigh ${instances.map((i) => `${i.id} ${i.weight ?? 1}`).join(', ')}`,
        signal,
      )
    },
    async swap(adding, removing, signal) {
      const site = adding[0] ?? removing[0]
      if (!site) return nothingToDrain
      await registry.swap(adding, removing, ttlSeconds, { signal })
      try {
        const ack = await waitFor(
          site,
          (ack) => adding.every((i) => serves(ack, i)) && !removing.some((i) => serves(ack, i)),
          `route to ${ids(adding) || 'no new instance'} instead of ${ids(removing) || 'nothing'}`,
          signal,
        )
        return changeOf(site, ack)
      } catch (error) {
        await registry
          .swap(removing, adding, ttlSeconds)
          .catch((undo: unknown) =>
            options.logger?.warn(
              { err: undo, adding: ids(adding), removing: ids(removing) },
              'could not put the registry back after a failed swap',
            ),
          )
        throw isAppError(error) ? error : new AppError('INTERNAL', String(error), { cause: error })
      }
    },
  }
}
