import { errorMessage, type Logger } from '@slipway/core'
import { HealthMonitor } from '@slipway/deploy'
import { DiscoveryRegistry } from '@slipway/gateway'
import type { WorkerDeps } from '../deps.ts'
import { type SiteRow, siteInclude, siteRequest } from './site.ts'

const leaderTtlMs = 15_000

/**
 * Watches every environment that has a live release, in one worker at a time (a Redis
 * leader lease): a health monitor per environment heartbeats healthy instances into the
 * discovery registry and takes failing ones out of the gateway; any failure, and every
 * `reconcileEveryMs`, queues a reconcile that replaces what died.
 */
export class EnvironmentSupervisor {
  private readonly monitors = new Map<string, { key: string; monitor: HealthMonitor }>()
  private readonly registry: DiscoveryRegistry
  private readonly lastReconcile = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private leader = false
  private ticking: Promise<void> | undefined

  constructor(
    private readonly deps: WorkerDeps,
    private readonly logger: Logger,
    private readonly options: { intervalMs: number; reconcileEveryMs: number; monitorIntervalMs: number },
  ) {
    this.registry = new DiscoveryRegistry({ redis: deps.redis, prefix: deps.prefix, logger })
  }

  start(): void {
    this.timer ??= setInterval(() => {
      this.ticking ??= this.tick()
        .catch((error) => this.logger.warn({ err: error }, 'supervisor tick failed'))
        .finally(() => {
          this.ticking = undefined
        })
    }, this.options.intervalMs)
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.ticking
    await Promise.all([...this.monitors.values()].map(({ monitor }) => monitor.stop()))
    this.monitors.clear()
    if (this.leader)
      await this.deps.redis
        .eval(releaseScript, 1, this.leaderKey, this.deps.workerId)
        .catch((error: unknown) =>
          this.logger.warn({ err: error }, 'could not hand back the supervisor lead; it expires by itself'),
        )
  }

  private get leaderKey(): string {
    return `${this.deps.prefix}:supervisor-leader`
  }

  private async elect(): Promise<boolean> {
    const { redis, workerId } = this.deps
    const won = await redis.set(this.leaderKey, workerId, 'PX', leaderTtlMs, 'NX')
    if (won) return true
    return (await redis.eval(renewScript, 1, this.leaderKey, workerId, String(leaderTtlMs))) === 1
  }

  private async tick(): Promise<void> {
    this.leader = await this.elect()
    if (!this.leader) {
      await Promise.all([...this.monitors.values()].map(({ monitor }) => monitor.stop()))
      this.monitors.clear()
      return
    }
    const sites = await this.deps.db.environment.findMany({
      where: { releases: { some: { status: 'live' } } },
      include: siteInclude,
    })
    const seen = new Set<string>()
    for (const site of sites) {
      seen.add(site.id)
      // One site that cannot be watched (a host without an address) does not stop the others.
      await this.watch(site).catch((error: unknown) =>
        this.logger.warn(
          { environment: `${site.project.slug}/${site.name}`, err: error },
          'cannot watch the environment',
        ),
      )
      const last = this.lastReconcile.get(site.id) ?? 0
      if (Date.now() - last > this.options.reconcileEveryMs) await this.queueReconcile(site.id)
    }
    for (const [id, entry] of this.monitors) {
      if (!seen.has(id)) {
        await entry.monitor.stop()
        this.monitors.delete(id)
      }
    }
  }

  private async watch(site: SiteRow): Promise<void> {
    // A Swarm checks its tasks' health itself: every tick heals the gateway onto its tasks.
    if (site.target === 'swarm') {
      await this.monitors.get(site.id)?.monitor.stop()
      this.monitors.delete(site.id)
      await this.queueReconcile(site.id)
      return
    }
    const key = JSON.stringify([
      site.project.slug,
      site.name,
      site.project.appSpec,
      site.hosts.map((h) => [h.host.endpoint, h.host.address]),
    ])
    const current = this.monitors.get(site.id)
    if (current?.key === key) return
    await current?.monitor.stop()
    const request = await siteRequest(this.deps, site)
    const monitor = new HealthMonitor({
      project: request.project,
      environment: request.environment,
      hosts: request.hosts,
      app: request.app,
      registry: this.registry,
      intervalMs: this.options.monitorIntervalMs,
      log: (line) => this.logger.info({ environment: `${request.project}/${request.environment}` }, line),
      onReport: (report) => {
        const expected = site.replicas
        if (report.removed.length || report.healthy.length < expected) void this.queueReconcile(site.id)
      },
    })
    monitor.start()
    this.monitors.set(site.id, { key, monitor })
  }

  private async queueReconcile(environmentId: string): Promise<void> {
    this.lastReconcile.set(environmentId, Date.now())
    // One reconcile per environment per 5 s window, whoever asks.
    const slot = Math.floor(Date.now() / 5000)
    await this.deps.queues
      .add('environment.reconcile', { environmentId }, { jobId: `reconcile-${environmentId}-${slot}` })
      .catch((error) => this.logger.warn({ error: errorMessage(error) }, 'could not queue a reconcile'))
  }
}

const renewScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`

const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
