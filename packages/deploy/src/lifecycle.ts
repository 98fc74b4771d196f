import type { Instance } from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import { waitHealthy } from './health/wait.ts'
import { containerName, containerNameOf, instanceLabels, where } from './labels.ts'
import type { DeployHost, RolloutRequest, TrafficChange } from './types.ts'
import { seconds, within } from './util.ts'

/** The parts of a request the lifecycle needs. */
export type SiteContext = Pick<
  RolloutRequest,
  | 'project'
  | 'environment'
  | 'app'
  | 'env'
  | 'strategy'
  | 'registryAuth'
  | 'traffic'
  | 'ports'
  | 'log'
  | 'labels'
  | 'restartPolicy'
>

/** Where a started instance stands with the gateway. */
export type TrafficState = 'none' | 'adding' | 'in'

/**
 * Frees an instance's host-network port lease, if it had one, once its container is gone. A
 * failure only warns: reconcile frees leases whose container no longer exists.
 */
async function releasePort(
  ctx: Pick<SiteContext, 'ports'>,
  instance: Pick<Instance, 'project' | 'environment' | 'id' | 'host' | 'port'>,
  warn: (message: string) => void,
): Promise<void> {
  try {
    await ctx.ports.release(instance.host, instance.port, containerNameOf(instance))
  } catch (error) {
    warn(`${instance.id}: could not free port ${instance.port} of ${instance.host}: ${errorMessage(error)}`)
  }
}

/**
 * Starts one instance: pulls its image if the host lacks it, runs the container (published
 * on the host's address on a port Docker chooses, or on the host network on a port leased for
 * it; labels, env with ENVT/PROJ, limits, init) and waits until it answers at the host's
 * address. It is not in the gateway yet: the caller adds it. `onCreated` learns about the
 * container as soon as it exists, so a failure later still lets the caller remove it (and free
 * its port).
 */
export async function startInstance(
  ctx: SiteContext,
  host: DeployHost,
  spec: { id: string; release: string; image: string },
  signal: AbortSignal,
  onCreated: (instance: Instance) => void,
): Promise<{ instance: Instance; healthyMs: number }> {
  const { app } = ctx
  if (!(await host.driver.hasImage(spec.image, { signal })))
    await host.driver.pull(spec.image, ctx.registryAuth, { signal })
  const identity = {
    id: spec.id,
    project: ctx.project,
    environment: ctx.environment,
    release: spec.release,
    image: spec.image,
  }
  const name = containerName(ctx.project, ctx.environment, spec.id)
  const onHost = app.network === 'host'
  const leased = onHost ? await leasePort(ctx, host.name, name, signal) : undefined
  const free = () =>
    leased === undefined
      ? Promise.resolve()
      : releasePort(ctx, { ...identity, host: host.name, port: leased }, ctx.log)
  let info: Awaited<ReturnType<DeployHost['driver']['run']>>
  try {
    info = await host.driver.run({
      name,
      image: spec.image,
      env: { ENVT: ctx.environment, PROJ: ctx.project, ...ctx.env },
      labels: { ...ctx.labels, ...instanceLabels(identity) },
      containerPort: app.containerPort,
      hostPort: leased,
      network: app.network,
      restartPolicy: ctx.restartPolicy ?? 'unless-stopped',
      stopGraceSeconds: app.stopGraceSeconds,
      memoryBytes: app.resources.memoryMb ? app.resources.memoryMb * 1024 * 1024 : undefined,
      nanoCpus: app.resources.cpus ? Math.round(app.resources.cpus * 1e9) : undefined,
      init: true,
      signal,
    })
  } catch (error) {
    // No container holds the port: the driver removes one that failed to start.
    await free()
    throw error
  }
  if (!info.hostPort) {
    await host.driver.remove(info.id).then(free, (error: unknown) => {
      ctx.log(
        `${spec.id}: could not remove container ${info.id.slice(0, 12)} on ${host.name}: ${errorMessage(error)}`,
      )
    })
    throw new AppError(
      'CONTAINER_FAILED',
      `container ${info.name} on ${host.name} has no port on the host's address ${host.address}`,
    )
  }
  const instance: Instance = {
    ...identity,
    host: host.name,
    address: host.address,
    port: info.hostPort,
    containerId: info.id,
  }
  onCreated(instance)
  const health = await waitHealthy({
    check: app.healthCheck,
    address: instance.address,
    port: instance.port,
    deadlineSeconds: ctx.strategy.healthTimeoutSeconds,
    signal,
    container: { host: host.driver, id: info.id },
  })
  return { instance, healthyMs: health.elapsedMs }
}

/** A host-network port for the container `name` on `host`; the allocator's failure says why. */
async function leasePort(
  ctx: Pick<SiteContext, 'ports'>,
  host: string,
  name: string,
  signal: AbortSignal,
): Promise<number> {
  try {
    return await ctx.ports.allocate(host, name, signal)
  } catch (error) {
    if (signal.aborted) throw error
    if (error instanceof AppError && error.code !== 'INTERNAL') throw error
    throw new AppError(
      'CONTAINER_FAILED',
      `no host-network port for ${name} on ${host}: ${errorMessage(error)}`,
      {
        cause: error,
      },
    )
  }
}

export interface RetireOptions {
  /** Take it out of the gateway first (false for an instance that never got in). */
  inTraffic: boolean
  /** It already left the gateway in this change (with others); implies no `inTraffic`. */
  left?: TrafficChange
  /** Drain after leaving the gateway (at most the strategy's drain period). */
  drain: boolean
  /** Called with a message when the container could not be stopped (its host is down). */
  warn: (message: string) => void
}

/**
 * Retires one instance: out of the gateway, drain, stop with its grace period (SIGTERM, then
 * SIGKILL), remove. The drain lasts until the requests the gateway had in flight when it
 * stopped routing to the instance have finished, and at most the strategy's drain period.
 * A host that cannot be reached only yields a warning once the instance is out of the
 * gateway: its containers are not serving anyway.
 */
export async function retireInstance(
  ctx: SiteContext,
  host: DeployHost | undefined,
  instance: Instance,
  signal: AbortSignal,
  options: RetireOptions,
): Promise<void> {
  const left = options.left ?? (options.inTraffic ? await ctx.traffic.remove(instance, signal) : undefined)
  const limit = ctx.strategy.drainSeconds
  let drained = ''
  if (left && options.drain && limit > 0) {
    const began = Date.now()
    if (await left.drained(limit * 1000, signal)) drained = `drained in ${seconds(Date.now() - began)}, `
    else
      ctx.log(
        `${instance.id}: the gateway's requests to it may still run after the ${seconds(limit * 1000)} drain; stopping it anyway (it gets its grace period)`,
      )
  }
  if (!host) {
    options.warn(
      `${instance.id}: host ${instance.host} is not known here, container ${instance.containerId.slice(0, 12)} left`,
    )
    return
  }
  const grace = ctx.app.stopGraceSeconds
  try {
    await host.driver.stop(instance.containerId, grace, { signal: within(grace * 1000 + 15_000, signal) })
    await host.driver.remove(instance.containerId, { signal: within(15_000, signal) })
    await releasePort(ctx, instance, options.warn)
    ctx.log(`${where(instance)} ${drained}stopped and removed`)
  } catch (error) {
    if (error instanceof AppError && (error.code === 'HOST_UNREACHABLE' || error.code === 'TIMEOUT')) {
      options.warn(
        `${instance.id}: could not stop it on ${host.name} (${errorMessage(error)}); it is out of the gateway`,
      )
      return
    }
    throw error
  }
}
