import type { AppSpec, Instance } from '@slipway/contracts'
import { errorMessage } from '@slipway/core'
import { discoverSite } from './discover.ts'
import { probeOnce } from './health/wait.ts'
import { where } from './labels.ts'
import type { DeployHost } from './types.ts'
import { mapLimit, within } from './util.ts'

/** What the monitor needs from the discovery registry (structurally @slipway/gateway's). */
export interface HeartbeatRegistry {
  /** Refreshes the entry's TTL; false when it is gone (a heartbeat never brings it back). */
  heartbeat(instance: Instance, options?: { signal?: AbortSignal }): Promise<boolean>
  /** Takes the entry out now (the gateway stops routing to it). */
  deregister(instance: Instance, options?: { signal?: AbortSignal }): Promise<boolean>
  /** Live entries: probed too, so an entry whose host is gone is noticed. */
  list?(project: string, environment: string, options?: { signal?: AbortSignal }): Promise<Instance[]>
}

export interface HealthMonitorOptions {
  project: string
  environment: string
  hosts: readonly DeployHost[]
  app: AppSpec
  registry: HeartbeatRegistry
  /** Between ticks (default 5000 ms). Keep it well under the registry TTL. */
  intervalMs?: number
  /** Failed probes in a row before an instance is taken out (default: the check's retries). */
  failureThreshold?: number
  onReport?: (report: MonitorReport) => void
  log?: (line: string) => void
}

export interface FailingInstance {
  instance: Instance
  reason: string
  /** Failed probes in a row. */
  consecutive: number
}

export interface MonitorReport {
  at: string
  /** Probed healthy; their registry entries were refreshed (when they had one). */
  healthy: Instance[]
  failing: FailingInstance[]
  /** Taken out of the registry (and so the gateway) in this tick. */
  removed: Instance[]
  unreachableHosts: { host: string; error: string }[]
}

/**
 * Probes the live instances of one site periodically: healthy ones heartbeat into the
 * discovery registry (keeping their TTL), failing ones are reported and, after
 * `failureThreshold` failed probes in a row, taken out of the registry. Instances are found
 * on the hosts (container labels) and in the registry (an entry whose host died).
 */
export class HealthMonitor {
  private readonly streaks = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private controller: AbortController | undefined
  private running: Promise<unknown> | undefined

  constructor(private readonly options: HealthMonitorOptions) {}

  async tick(signal: AbortSignal = AbortSignal.timeout(60_000)): Promise<MonitorReport> {
    const { project, environment, app, registry } = this.options
    const inventories = await discoverSite(this.options.hosts, project, environment, signal)
    const found = new Map<string, Instance>()
    for (const inventory of inventories)
      for (const instance of inventory.running) found.set(instance.id, instance)
    const listed = registry.list
      ? await registry.list(project, environment, { signal }).catch((error: unknown) => {
          // The hosts' own inventories still cover every running instance.
          this.options.log?.(`listing the discovery registry failed: ${errorMessage(error)}`)
          return []
        })
      : []
    for (const instance of listed) if (!found.has(instance.id)) found.set(instance.id, instance)

    const report: MonitorReport = {
      at: new Date().toISOString(),
      healthy: [],
      failing: [],
      removed: [],
      unreachableHosts: inventories.flatMap((i) =>
        i.error ? [{ host: i.host, error: i.error.message }] : [],
      ),
    }
    const threshold = this.options.failureThreshold ?? app.healthCheck.retries
    await mapLimit([...found.values()], 16, async (instance) => {
      const outcome = await probeOnce(app.healthCheck, instance, signal)
      if (outcome.ok) {
        this.streaks.delete(instance.id)
        report.healthy.push(instance)
        await registry.heartbeat(instance, { signal: within(5000, signal) }).catch((error: unknown) => {
          this.options.log?.(`heartbeat of ${instance.id} failed: ${errorMessage(error)}`)
        })
        return
      }
      const consecutive = (this.streaks.get(instance.id) ?? 0) + 1
      this.streaks.set(instance.id, consecutive)
      const reason = outcome.kind === 'status' ? `answered ${outcome.status}` : outcome.message
      report.failing.push({ instance, reason, consecutive })
      if (consecutive >= threshold) {
        const removed = await registry
          .deregister(instance, { signal: within(5000, signal) })
          .catch((error: unknown) => {
            // Still failing next tick: taken out then.
            this.options.log?.(`taking ${where(instance)} out of the gateway failed: ${errorMessage(error)}`)
            return false
          })
        if (removed) {
          report.removed.push(instance)
          this.options.log?.(`${where(instance)} failing (${reason}): taken out of the gateway`)
        }
      }
    })
    for (const id of this.streaks.keys()) if (!found.has(id)) this.streaks.delete(id)
    this.options.onReport?.(report)
    return report
  }

  /** Ticks every `intervalMs` until stop(); a tick never overlaps the previous one. */
  start(): void {
    if (this.controller) return
    const controller = new AbortController()
    this.controller = controller
    const loop = () => {
      if (controller.signal.aborted) return
      this.running = this.tick(within(60_000, controller.signal))
        .catch((error: unknown) => this.options.log?.(`health monitor tick failed: ${errorMessage(error)}`))
        .finally(() => {
          if (!controller.signal.aborted) this.timer = setTimeout(loop, this.options.intervalMs ?? 5000)
        })
    }
    loop()
  }

  async stop(): Promise<void> {
    this.controller?.abort()
    this.controller = undefined
    clearTimeout(this.timer)
    await this.running
  }
}
