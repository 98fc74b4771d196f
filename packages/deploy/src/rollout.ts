import { randomBytes } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import type { Instance } from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import type { ContainerInfo } from '@slipway/docker'
import { PlanError, planRestore, planRollout, type RolloutPlan } from '@slipway/rollout'
import { discoverSite } from './discover.ts'
import { BatchExecutor } from './executor.ts'
import { instanceFromContainer, labelKeys } from './labels.ts'
import { prePull } from './prepull.ts'
import { hostOf, releaseSlug } from './state.ts'
import type { DeployHost, HostReport, RolloutRequest, RolloutResult } from './types.ts'
import { canceled, linkedSignal, seconds, within } from './util.ts'

/**
 * Rolls an environment to `request.release` with `request.replicas` instances: discovers
 * what runs from container labels, pre-pulls the image on the target hosts in parallel,
 * then replaces instances batch by batch (start, healthy, into the gateway, old one out,
 * drain, stop). A failed batch rolls the whole rollout back. Scaling and rolling back to an
 * older release are the same call. Never throws for a failed rollout: the result says why.
 */
export async function rollout(given: RolloutRequest): Promise<RolloutResult> {
  // Many calls at once listen on the rollout's signal: give them one of ours to listen on.
  const linked = linkedSignal(given.signal)
  try {
    return await run({ ...given, signal: linked.signal })
  } finally {
    linked.dispose()
  }
}

async function run(request: RolloutRequest): Promise<RolloutResult> {
  const began = Date.now()
  const hosts = new Map<string, DeployHost>()
  for (const host of [...(request.formerHosts ?? []), ...request.hosts]) hosts.set(host.name, host)
  const exec = new BatchExecutor(request, hosts)
  const hostReports = new Map<string, HostReport>(request.hosts.map((h) => [h.name, { host: h.name }]))
  const skip = request.strategy.onPullFailure === 'skip-host'
  const token = randomBytes(3).toString('hex').slice(0, 4)
  const idPrefix = (release: string) => `${releaseSlug(release)}-${token}-`
  const leaveOut = (host: string, why: string) => {
    const report = hostReports.get(host)
    if (report) report.skipped = why
    request.log(`leaving ${host} out: ${why}`)
  }
  const result = (status: RolloutResult['status'], extra: Partial<RolloutResult> = {}): RolloutResult => ({
    status,
    rolledBack: false,
    instances: [...exec.live.values()].map((entry) => entry.instance).sort((a, b) => (a.id < b.id ? -1 : 1)),
    batches: exec.reports,
    hosts: [...hostReports.values()],
    warnings: exec.warnings,
    durationMs: Date.now() - began,
    ...extra,
  })
  const failure = (error: unknown) => {
    const appError = error instanceof AppError ? error : new AppError('INTERNAL', errorMessage(error))
    const host = hostOf(appError) ?? (appError.details as { host?: string } | undefined)?.host
    return { code: appError.code, message: appError.message, ...(host ? { host } : {}) }
  }
  const { signal } = request
  request.log(
    `rollout of ${request.project}/${request.environment} to ${request.release.id} (${request.replicas} instances on ${request.hosts.length} hosts)`,
  )
  exec.images.set(request.release.id, request.release.image)

  // 1. What runs now: container labels on every host, the truth.
  const broken: { host: DeployHost; container: ContainerInfo }[] = []
  for (const inventory of await discoverSite(
    [...hosts.values()],
    request.project,
    request.environment,
    signal,
  )) {
    if (inventory.error) {
      if (!hostReports.has(inventory.host))
        exec.warn(`former host ${inventory.host}: ${inventory.error.message}`)
      else if (!skip) return result('failed', { error: failure(inventory.error) })
      else leaveOut(inventory.host, inventory.error.message)
      exec.down.add(inventory.host)
      continue
    }
    for (const instance of inventory.running) {
      exec.live.set(instance.id, { instance, traffic: 'in', ours: false })
      if (!exec.images.has(instance.release)) exec.images.set(instance.release, instance.image)
    }
    const host = hosts.get(inventory.host) as DeployHost
    for (const container of inventory.broken) broken.push({ host, container })
  }

  // 2. Plan, and pull on every host that starts an instance; a failed pull aborts before
  // anything is touched, or leaves the host out and plans again.
  const pulled = new Set<string>()
  const plan = async (): Promise<RolloutPlan> => {
    for (let round = 0; round <= hosts.size; round++) {
      const next = planRollout({
        hosts: request.hosts.map((h) => h.name),
        excludedHosts: [...exec.down],
        instances: [...exec.live.values()].map(({ instance }) => instance),
        release: request.release.id,
        replicas: request.replicas,
        strategy: request.strategy,
        idPrefix: idPrefix(request.release.id),
      })
      const targets = next.prePull.filter((h) => !pulled.has(h)).map((h) => hosts.get(h) as DeployHost)
      const outcomes = await prePull(targets, request.release.image, {
        auth: request.registryAuth,
        concurrency: request.pullConcurrency,
        signal,
      })
      if (signal.aborted) throw canceled(signal)
      for (const outcome of outcomes) {
        const report = hostReports.get(outcome.host)
        if (report) report.pullMs = outcome.ms
        if (outcome.error) {
          if (!skip) throw outcome.error
          leaveOut(outcome.host, outcome.error.message)
          exec.down.add(outcome.host)
        } else pulled.add(outcome.host)
      }
      if (outcomes.every((o) => !o.error)) return next
    }
    throw new AppError('INTERNAL', 'pre-pull did not settle')
  }
  let current: RolloutPlan
  try {
    current = await plan()
  } catch (error) {
    const appError = error instanceof PlanError ? new AppError('VALIDATION_FAILED', error.message) : error
    return result('failed', { error: failure(appError) })
  }
  const slowest = Math.max(0, ...[...hostReports.values()].map((r) => r.pullMs ?? 0))
  request.log(
    `pre-pull done in ${seconds(slowest)}; ${current.batches.length} batches of up to ${current.batchSize}`,
  )

  // 3. Containers of the site that do not run any more are garbage. One that died may still
  // be in the gateway (until the health monitor notices): it leaves in one change first.
  // A host-network container's port lease goes with it.
  await takeOutOfTraffic(request, broken, exec.warn, signal)
  for (const { host, container } of broken) {
    try {
      await host.driver.remove(container.id, { signal })
    } catch (error) {
      exec.warn(`could not remove stopped container ${container.id.slice(0, 12)}: ${errorMessage(error)}`)
      continue
    }
    if (container.hostPort)
      await request.ports.release(host.name, container.hostPort, container.name).catch((error: unknown) => {
        exec.warn(`could not free port ${container.hostPort} of ${host.name}: ${errorMessage(error)}`)
      })
  }

  // 4. The batches. A host found down is left out (skip-host) and the rest planned again.
  for (let attempt = 0; ; attempt++) {
    try {
      await exec.runBatches(current.batches, 'rollout', signal, current.maxRunning)
      request.log(`rollout to ${request.release.id} done: ${exec.live.size} instances`)
      return result('succeeded')
    } catch (error) {
      const host = hostOf(error)
      if (!host || !skip || !hostReports.has(host) || attempt >= hosts.size || signal.aborted)
        return rollback(request, exec, current, error, idPrefix, result, failure)
      await exec.settleBackground()
      await exec.dropHost(host, signal)
      await exec.discardUnfinished(signal)
      leaveOut(host, errorMessage(error))
      try {
        current = await plan()
      } catch (replanError) {
        return rollback(request, exec, current, replanError, idPrefix, result, failure)
      }
    }
  }
}

async function rollback(
  request: RolloutRequest,
  exec: BatchExecutor,
  plan: RolloutPlan,
  cause: unknown,
  idPrefix: (release: string) => string,
  result: (status: RolloutResult['status'], extra?: Partial<RolloutResult>) => RolloutResult,
  failure: (error: unknown) => { code: AppError['code']; message: string },
): Promise<RolloutResult> {
  const error = failure(cause)
  request.log(`rollout failed: ${error.message}; rolling back`)
  const { strategy, app } = request
  const perBatchSeconds = strategy.healthTimeoutSeconds + strategy.drainSeconds + app.stopGraceSeconds + 60
  // Its own bound: a rollback also runs when the rollout was canceled.
  const signal = AbortSignal.timeout(perBatchSeconds * 1000 * (exec.retired.length + 2))
  setMaxListeners(0, signal)
  try {
    // A host that goes down during the rollback is left out and the rest restored.
    for (let attempt = 0; ; attempt++) {
      try {
        await exec.settleBackground()
        const hostsWithInstances = [...new Set([...exec.live.values()].map((e) => e.instance.host))]
        for (const down of await exec.unreachable(hostsWithInstances, signal))
          await exec.dropHost(down.host, signal)
        const restore = planRestore({
          live: [...exec.live.values()].map(({ instance, traffic }) => ({
            id: instance.id,
            host: instance.host,
            release: instance.release,
            serving: traffic === 'in',
          })),
          started: [...exec.live.values()].filter((e) => e.ours).map((e) => e.instance.id),
          retired: exec.retired,
          hosts: plan.hosts,
          allowedHosts: [...new Set([...exec.retired.map((r) => r.host)])].filter((h) => !exec.down.has(h)),
          batchSize: plan.batchSize,
          maxSurge: plan.maxSurge,
          maxUnavailable: plan.maxUnavailable,
          idPrefix,
        })
        for (const old of exec.retired)
          if (!exec.images.has(old.release)) exec.images.set(old.release, old.image)
        await exec.runBatches(restore.batches, 'rollback', signal)
        break
      } catch (rollbackError) {
        const host = hostOf(rollbackError)
        if (!host || exec.down.has(host) || attempt >= plan.hosts.length || signal.aborted)
          throw rollbackError
        await exec.settleBackground()
        await exec.dropHost(host, signal)
      }
    }
    request.log(`rolled back: ${exec.live.size} instances of the previous release serve`)
    return result('failed', { error, rolledBack: true })
  } catch (rollbackError) {
    request.log(`rollback failed: ${errorMessage(rollbackError)}`)
    const { code, message } = failure(rollbackError)
    return result('failed', { error, rolledBack: true, rollbackError: { code, message } })
  }
}

/**
 * Takes the instances of containers that stopped out of the gateway, in one change (those
 * not in it are left as they are). A stopped bridge container has lost its published port, so
 * its instance is the one the discovery registry holds under its id. Best effort: what cannot
 * be read or changed is logged, and the health monitor remains the one that notices a dead
 * instance in any case.
 */
async function takeOutOfTraffic(
  request: RolloutRequest,
  stopped: readonly { host: DeployHost; container: ContainerInfo }[],
  warn: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  if (!stopped.length) return
  const registered = request.registry
    ? await request.registry
        .list(request.project, request.environment, { signal: within(10_000, signal) })
        .catch((error: unknown) => {
          warn(`could not read the discovery registry: ${errorMessage(error)}`)
          return []
        })
    : []
  const instances = stopped.flatMap(({ host, container }): Instance[] => {
    const id = container.labels[labelKeys.instance]
    const known = registered.filter((instance) => instance.id === id && instance.host === host.name)
    if (known.length) return known
    const instance = instanceFromContainer(host, container)
    return instance ? [instance] : []
  })
  if (!instances.length) return
  const ids = instances.map((i) => `${i.id} on ${i.host}`).join(', ')
  try {
    await request.traffic.swap([], instances, within(30_000, signal))
    request.log(`${ids}: container stopped, out of the gateway`)
  } catch (error) {
    warn(`could not take ${ids} (container stopped) out of the gateway: ${errorMessage(error)}`)
  }
}
