import { AppError, errorMessage } from '@slipway/core'
import type { PlanBatch, PlannedRetire, PlannedStart } from '@slipway/rollout'
import { where } from './labels.ts'
import { retireInstance, type SiteContext, startInstance } from './lifecycle.ts'
import { hostDown, type LiveInstance, type RetiredInstance } from './state.ts'
import type { BatchReport, DeployHost, TrafficChange } from './types.ts'
import { seconds, sleep, within } from './util.ts'

/** How long a host gets to answer a ping before it counts as down. */
const pingTimeoutMs = 3000

/**
 * Runs plan batches against the hosts and keeps the truth of what runs: live instances,
 * retired ones, reports. Once a batch's new instances are healthy, the next batch starts
 * while they enter the gateway and the old ones leave (drain, stop), as long as running
 * instances stay within `maxRunning`; every failure there surfaces before the next batch.
 */
export class BatchExecutor {
  readonly live = new Map<string, LiveInstance>()
  readonly retired: RetiredInstance[] = []
  readonly images = new Map<string, string>()
  readonly down = new Set<string>()
  readonly warnings: string[] = []
  readonly reports: BatchReport[] = []
  private readonly background = new Set<Promise<void>>()
  private backgroundErrors: unknown[] = []
  private readonly began = Date.now()

  constructor(
    private readonly ctx: SiteContext,
    private readonly hosts: ReadonlyMap<string, DeployHost>,
  ) {}

  warn = (message: string): void => {
    this.warnings.push(message)
    this.ctx.log(`warning: ${message}`)
  }

  async runBatches(
    batches: readonly PlanBatch[],
    phase: BatchReport['phase'],
    signal: AbortSignal,
    maxRunning?: number,
  ): Promise<void> {
    for (const batch of batches) {
      // Overlap with the previous batch's tail (gateway, retirements) only while running
      // instances stay within maxRunning and nothing has to leave before this batch starts.
      if (maxRunning === undefined || batch.retireFirst.length > 0) await this.settleBackground()
      else await this.makeRoom(batch.start.length, maxRunning)
      this.throwBackgroundErrors()
      const involved = new Set([
        ...batch.start.map((s) => s.host),
        ...batch.retireFirst.map((r) => r.host),
        ...[...this.live.values()].map((l) => l.instance.host),
      ])
      const down = await this.unreachable([...involved], signal)
      if (down[0]) throw hostDown(down[0].host, down[0].error)

      const at = Date.now()
      const report: BatchReport = {
        phase,
        index: batch.index,
        started: batch.start.map((s) => s.id),
        retired: [...batch.retireFirst, ...batch.retire].map((r) => r.id),
        atMs: at - this.began,
        healthyMs: 0,
      }
      this.reports.push(report)
      const what = batch.start.map((s) => `${s.id}@${s.host}`).join(', ') || 'nothing'
      this.ctx.log(`${phase} batch ${batch.index + 1}/${batches.length}: starting ${what}`)
      await Promise.all(batch.retireFirst.map((r) => this.retire(r, signal, phase)))
      const healthy = await this.startAll(batch.start, signal, phase)
      report.healthyMs = Date.now() - at
      // The batch's new instances are healthy: the next batch may start while they take
      // over from the old ones in the gateway and the old ones drain and stop.
      this.inBackground(async () => {
        const change = await this.handOver(healthy, batch.retire, signal)
        report.servingMs = Date.now() - at
        await Promise.all(batch.retire.map((r) => this.retire(r, signal, phase, change.get(r.id))))
        report.doneMs = Date.now() - at
      })
    }
    await this.settleBackground()
    this.throwBackgroundErrors()
  }

  /** Starts a batch's instances together; the first failure cancels the others. */
  private async startAll(
    starts: readonly PlannedStart[],
    signal: AbortSignal,
    phase: BatchReport['phase'],
  ): Promise<LiveInstance[]> {
    const controller = new AbortController()
    const batchSignal = AbortSignal.any([signal, controller.signal])
    let first: unknown
    const results = await Promise.allSettled(
      starts.map((start) =>
        this.startOne(start, batchSignal, phase).catch(async (error: unknown) => {
          if (first === undefined) {
            first = error
            first = await this.explain(start.host, error, signal)
            controller.abort(first)
          }
          throw error
        }),
      ),
    )
    if (results.some((r) => r.status === 'rejected')) throw first
    return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  }

  private async startOne(
    start: PlannedStart,
    signal: AbortSignal,
    phase: BatchReport['phase'],
  ): Promise<LiveInstance> {
    const host = this.hosts.get(start.host)
    const image = this.images.get(start.release)
    if (!host || !image)
      throw new AppError(
        'INTERNAL',
        `no ${host ? 'image' : 'driver'} for ${start.id} (${start.release}) on ${start.host}`,
      )
    let entry: LiveInstance | undefined
    const { healthyMs } = await startInstance(
      this.ctx,
      host,
      { id: start.id, release: start.release, image },
      signal,
      (instance) => {
        entry = { instance, traffic: 'none', ours: phase === 'rollout' }
        this.live.set(instance.id, entry)
      },
    )
    if (!entry) throw new AppError('INTERNAL', `${start.id} started without a container`)
    this.ctx.log(`${where(entry.instance)} healthy after ${seconds(healthyMs)}`)
    return entry
  }

  /**
   * One gateway change: the healthy new instances in, the old ones they replace (those in
   * the gateway) out. Returns that change for each old instance that left with it.
   */
  private async handOver(
    healthy: readonly LiveInstance[],
    retire: readonly PlannedRetire[],
    signal: AbortSignal,
  ): Promise<Map<string, TrafficChange>> {
    const leaving = retire
      .map((r) => this.live.get(r.id))
      .filter((entry): entry is LiveInstance => entry?.traffic === 'in')
    for (const entry of healthy) entry.traffic = 'adding'
    const change = await this.ctx.traffic.swap(
      healthy.map((entry) => entry.instance),
      leaving.map((entry) => entry.instance),
      signal,
    )
    for (const entry of healthy) {
      entry.traffic = 'in'
      this.ctx.log(`${where(entry.instance)} is in the gateway`)
    }
    for (const entry of leaving) {
      entry.traffic = 'none'
      this.ctx.log(`${entry.instance.id} is out of the gateway`)
    }
    return new Map(leaving.map((entry) => [entry.instance.id, change]))
  }

  /**
   * A failure on a host that no longer answers becomes that host's HOST_UNREACHABLE. A daemon
   * that is shutting down still answers pings for a moment while its calls fail with errors
   * of its own (5xx), so after such a failure the host is asked again over 3 s.
   */
  private async explain(hostName: string, error: unknown, signal: AbortSignal): Promise<unknown> {
    const code = error instanceof AppError ? error.code : undefined
    if (code === 'CANCELED' || code === 'HEALTH_CHECK_FAILED') return error
    for (const pauseMs of [0, 1000, 2000]) {
      if (pauseMs > 0) await sleep(pauseMs, signal)
      const [down] = await this.unreachable([hostName], signal)
      if (down) return hostDown(hostName, error)
      if (!daemonSide(error)) break
    }
    return error
  }

  /** Retires an old instance; `left`: the gateway change that already took it out. */
  async retire(
    old: PlannedRetire,
    signal: AbortSignal,
    phase: BatchReport['phase'],
    left?: TrafficChange,
  ): Promise<void> {
    const entry = this.live.get(old.id)
    if (!entry) return
    await retireInstance(this.ctx, this.hosts.get(old.host), entry.instance, signal, {
      inTraffic: entry.traffic !== 'none',
      left,
      drain: left !== undefined || entry.traffic === 'in',
      warn: this.warn,
    })
    this.live.delete(old.id)
    if (phase === 'rollout' && !entry.ours) this.retired.push({ ...old, image: entry.instance.image })
  }

  private inBackground(work: () => Promise<void>): void {
    const task: Promise<void> = work()
      .catch((error: unknown) => {
        this.backgroundErrors.push(error)
      })
      .finally(() => this.background.delete(task))
    this.background.add(task)
  }

  private async makeRoom(starting: number, maxRunning: number): Promise<void> {
    while (this.live.size + starting > maxRunning && this.background.size > 0)
      await Promise.race(this.background)
  }

  /** Waits until every gateway change and retirement under way is done. */
  async settleBackground(): Promise<void> {
    while (this.background.size > 0) await Promise.all(this.background)
  }

  private throwBackgroundErrors(): void {
    const [first] = this.backgroundErrors
    this.backgroundErrors = []
    if (first !== undefined) throw first
  }

  /** Hosts among `names` that do not answer a ping (those already known down are skipped). */
  async unreachable(
    names: readonly string[],
    signal: AbortSignal,
  ): Promise<{ host: string; error: unknown }[]> {
    const checks = await Promise.all(
      names
        .filter((name) => !this.down.has(name))
        .map(async (name) => {
          const host = this.hosts.get(name)
          if (!host) return undefined
          try {
            await host.driver.ping({ signal: within(pingTimeoutMs, signal) })
            return undefined
          } catch (error) {
            if (signal.aborted) throw error
            return { host: name, error }
          }
        }),
    )
    return checks.filter((c) => c !== undefined)
  }

  /**
   * A host went down: its instances leave the gateway (they cannot serve) and the rollout's
   * books, and nothing more is asked of it.
   */
  async dropHost(host: string, signal: AbortSignal): Promise<void> {
    this.down.add(host)
    const gone = [...this.live.values()].filter((entry) => entry.instance.host === host)
    await Promise.all(
      gone.map(async (entry) => {
        if (entry.traffic !== 'none')
          await this.ctx.traffic.remove(entry.instance, within(30_000, signal)).catch((error: unknown) => {
            this.warn(`${entry.instance.id}: could not take it out of the gateway: ${errorMessage(error)}`)
          })
        this.live.delete(entry.instance.id)
      }),
    )
    if (gone.length)
      this.warn(`host ${host} is down: ${gone.map((e) => e.instance.id).join(', ')} left the gateway`)
  }

  /** Removes instances this rollout started that never got healthy into the gateway. */
  async discardUnfinished(signal: AbortSignal): Promise<void> {
    const unfinished = [...this.live.values()].filter((entry) => entry.ours && entry.traffic !== 'in')
    await Promise.all(
      unfinished.map((entry) =>
        this.retire({ ...entry.instance, reason: 'rolled-back' }, signal, 'rollback').catch(
          (error: unknown) => this.warn(`${entry.instance.id}: could not remove it: ${errorMessage(error)}`),
        ),
      ),
    )
  }
}

/** Whether Docker itself failed the call (an HTTP 5xx from the daemon). */
function daemonSide(error: unknown): boolean {
  const cause = error instanceof Error ? (error.cause as { statusCode?: unknown } | undefined) : undefined
  return typeof cause?.statusCode === 'number' && cause.statusCode >= 500
}
