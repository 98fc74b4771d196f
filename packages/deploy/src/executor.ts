import { AppError, errorMessage } from '@slipway/core'
import type { PlanBatch, PlannedRetire, PlannedStart } from '@slipway/rollout'
import { retireInstance, type SiteContext, startInstance } from './lifecycle.ts'
import { hostDown, type LiveInstance, type RetiredInstance } from './state.ts'
import type { BatchReport, DeployHost } from './types.ts'
import { within } from './util.ts'

/** How long a host gets to answer a ping before it counts as down. */
const pingTimeoutMs = 3000

/**
 * Runs plan batches against the hosts and keeps the truth of what runs: live instances,
 * retired ones, reports. Retirements of a batch run in the background while the next batch
 * starts, as long as running instances stay within `maxRunning`; every failure surfaces
 * before the next batch.
 */
export class BatchExecutor {
  readonly live = new Map<string, LiveInstance>()
  readonly retired: RetiredInstance[] = []
  readonly images = new Map<string, string>()
  readonly down = new Set<string>()
  readonly warnings: string[] = []
  readonly reports: BatchReport[] = []
  private readonly retiring = new Map<string, Promise<void>>()
  private retireErrors: unknown[] = []
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
      if (maxRunning === undefined) await this.settleRetirements()
      else await this.makeRoom(batch.start.length, maxRunning)
      this.throwRetireErrors()
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
      await this.startAll(batch.start, signal, phase)
      report.healthyMs = Date.now() - at
      const retirements = batch.retire.map((r) => this.retireInBackground(r, signal, phase))
      void Promise.all(retirements).then(() => {
        report.doneMs = Date.now() - at
      })
    }
    await this.settleRetirements()
    this.throwRetireErrors()
  }

  /** Starts a batch's instances together; the first failure cancels the others. */
  private async startAll(starts: readonly PlannedStart[], signal: AbortSignal, phase: BatchReport['phase']) {
    const controller = new AbortController()
    const batchSignal = AbortSignal.any([signal, controller.signal])
    let first: unknown
    const results = await Promise.allSettled(
      starts.map((start) =>
        this.startOne(start, batchSignal, phase).catch(async (error: unknown) => {
          if (first === undefined) {
            first = await this.explain(start.host, error, signal)
            controller.abort(first)
          }
          throw error
        }),
      ),
    )
    if (results.some((r) => r.status === 'rejected')) throw first
  }

  private async startOne(
    start: PlannedStart,
    signal: AbortSignal,
    phase: BatchReport['phase'],
  ): Promise<void> {
    const host = this.hosts.get(start.host)
    const image = this.images.get(start.release)
    if (!host || !image)
      throw new AppError(
        'INTERNAL',
        `no ${host ? 'image' : 'driver'} for ${start.id} (${start.release}) on ${start.host}`,
      )
    const ours = phase === 'rollout'
    let entry: LiveInstance | undefined
    await startInstance(
      this.ctx,
      host,
      { id: start.id, release: start.release, image },
      signal,
      (instance) => {
        entry = { instance, traffic: 'none', ours }
        this.live.set(instance.id, entry)
      },
      (traffic) => {
        if (entry) entry.traffic = traffic
      },
    )
  }

  /** A failure on a host that no longer answers becomes that host's HOST_UNREACHABLE. */
  private async explain(hostName: string, error: unknown, signal: AbortSignal): Promise<unknown> {
    const code = error instanceof AppError ? error.code : undefined
    if (code === 'CANCELED' || code === 'HEALTH_CHECK_FAILED') return error
    const [down] = await this.unreachable([hostName], signal)
    return down ? hostDown(hostName, error) : error
  }

  async retire(old: PlannedRetire, signal: AbortSignal, phase: BatchReport['phase']): Promise<void> {
    const entry = this.live.get(old.id)
    if (!entry) return
    await retireInstance(this.ctx, this.hosts.get(old.host), entry.instance, signal, {
      inTraffic: entry.traffic !== 'none',
      drain: entry.traffic === 'in',
      warn: this.warn,
    })
    this.live.delete(old.id)
    if (phase === 'rollout' && !entry.ours) this.retired.push({ ...old, image: entry.instance.image })
  }

  private retireInBackground(
    old: PlannedRetire,
    signal: AbortSignal,
    phase: BatchReport['phase'],
  ): Promise<void> {
    const work = this.retire(old, signal, phase)
      .catch((error: unknown) => {
        this.retireErrors.push(error)
      })
      .finally(() => this.retiring.delete(old.id))
    this.retiring.set(old.id, work)
    return work
  }

  private async makeRoom(starting: number, maxRunning: number): Promise<void> {
    while (this.live.size + starting > maxRunning && this.retiring.size > 0)
      await Promise.race(this.retiring.values())
  }

  async settleRetirements(): Promise<void> {
    while (this.retiring.size > 0) await Promise.all(this.retiring.values())
  }

  private throwRetireErrors(): void {
    const [first] = this.retireErrors
    this.retireErrors = []
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
