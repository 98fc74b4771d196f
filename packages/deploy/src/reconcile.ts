import { errorMessage } from '@slipway/core'
import { discoverSite } from './discover.ts'
import { probeOnce } from './health/wait.ts'
import { retireInstance } from './lifecycle.ts'
import { rollout } from './rollout.ts'
import type { DeployHost, RolloutRequest, RolloutResult } from './types.ts'
import { linkedSignal, within } from './util.ts'

export interface ReconcileResult extends RolloutResult {
  /** Instances of the release found running but failing their check, removed before the rollout. */
  replacedUnhealthy: string[]
  /** False when the environment already matched (nothing started or retired). */
  changed: boolean
  /** Host-network port leases freed because their container no longer exists. */
  freedPorts: { host: string; port: number; instance: string }[]
}

/**
 * Self-healing: brings what runs on the hosts back to the desired release and replicas
 * through the same health-checked path as a rollout. Instances of the release that fail a
 * probe leave (gateway, stop, remove) and are replaced; healthy ones are put (back) into
 * the gateway; dead containers are removed and replaced; a host that came back gets its
 * share; stray containers of other releases are replaced. Hosts that do not answer are left
 * out (a reconcile works around them, whatever `onPullFailure` says).
 */
export async function reconcile(given: RolloutRequest): Promise<ReconcileResult> {
  // One probe per instance listens on the signal at once: give them one of ours to listen on.
  const linked = linkedSignal(given.signal)
  try {
    return await run({ ...given, signal: linked.signal })
  } finally {
    linked.dispose()
  }
}

async function run(request: RolloutRequest): Promise<ReconcileResult> {
  const { signal } = request
  const hosts = new Map(request.hosts.map((h) => [h.name, h]))
  const replacedUnhealthy: string[] = []
  const inventories = await discoverSite(request.hosts, request.project, request.environment, signal)
  const current = inventories.flatMap((i) => i.running).filter((i) => i.release === request.release.id)
  await Promise.all(
    current.map(async (instance) => {
      const outcome = await probeOnce(request.app.healthCheck, instance, signal)
      if (outcome.ok) {
        await request.traffic.add(instance, within(60_000, signal)).catch((error: unknown) => {
          request.log(`could not put ${instance.id} back into the gateway: ${errorMessage(error)}`)
        })
        return
      }
      const why = outcome.kind === 'status' ? `answered ${outcome.status}` : outcome.message
      request.log(`${instance.id} on ${instance.host} fails its check (${why}): replacing it`)
      replacedUnhealthy.push(instance.id)
      await retireInstance(request, hosts.get(instance.host), instance, signal, {
        inTraffic: true,
        drain: false,
        warn: request.log,
      })
    }),
  )
  const result = await rollout({ ...request, strategy: { ...request.strategy, onPullFailure: 'skip-host' } })
  const downHosts = new Set(result.hosts.filter((h) => h.skipped).map((h) => h.host))
  const freedPorts = await freeOrphanedPorts(
    request,
    request.hosts.filter((host) => !downHosts.has(host.name)),
  )
  const changed = replacedUnhealthy.length > 0 || result.batches.length > 0
  if (!changed) request.log(`${request.project}/${request.environment} is in sync`)
  return { ...result, replacedUnhealthy, changed, freedPorts }
}

/** A lease younger than this may belong to a start under way (leased, container not created yet). */
const leaseGraceMs = 5 * 60_000

/**
 * Frees the host-network port leases on `hosts` whose container no longer exists (removed by
 * hand, lost with the host's disk, or a worker that died between removing it and freeing the
 * port), whichever site they belonged to. Best effort: a host that cannot be asked keeps its
 * leases until the next reconcile.
 */
async function freeOrphanedPorts(
  request: Pick<RolloutRequest, 'ports' | 'log' | 'signal'>,
  hosts: readonly DeployHost[],
): Promise<{ host: string; port: number; instance: string }[]> {
  const freed: { host: string; port: number; instance: string }[] = []
  await Promise.all(
    hosts.map(async (host) => {
      try {
        const old = (await request.ports.leases(host.name)).filter(
          (lease) => Date.now() - lease.createdAt.getTime() > leaseGraceMs,
        )
        if (!old.length) return
        const names = new Set(
          (await host.driver.list({}, { all: true, signal: within(15_000, request.signal) })).map(
            (c) => c.name,
          ),
        )
        for (const lease of old) {
          if (names.has(lease.instance)) continue
          await request.ports.release(host.name, lease.port, lease.instance)
          freed.push({ host: host.name, ...lease })
          request.log(
            `freed port ${lease.port} of ${host.name}: container ${lease.instance} no longer exists`,
          )
        }
      } catch (error) {
        request.log(`could not check the port leases of ${host.name}: ${errorMessage(error)}`)
      }
    }),
  )
  return freed.map(({ host, port, instance }) => ({ host, port, instance }))
}
