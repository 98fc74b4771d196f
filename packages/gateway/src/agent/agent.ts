import { hostname } from 'node:os'
import { errorMessage, type Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import type { DiscoveryRegistry } from '../discovery/registry.ts'
import type { HaproxyApplier } from '../haproxy/applier.ts'
import { defaultBindAddress } from '../haproxy/render.ts'
import { assertPort, siteKey } from '../names.ts'
import { bounded } from '../support/bounded.ts'
import { deleteAck } from './ack.ts'
import { type GatewaySite, type SiteStatus, SiteWorker } from './site-worker.ts'

export interface GatewayAgentOptions {
  registry: DiscoveryRegistry
  /** The HAProxy this agent keeps sites in. */
  applier: HaproxyApplier
  /** For acknowledgements (the registry's client is fine). */
  redis: Redis
  /** The registry's key prefix. */
  prefix: string
  /**
   * The sites to serve, re-read every `sitesIntervalMs`. It must throw when it cannot tell
   * (a partial list removes the sites left out).
   */
  sites: (signal: AbortSignal) => Promise<GatewaySite[]>
  logger: Logger
  /** Default 5000 ms. Each re-read also re-checks that HAProxy serves every acknowledged site. */
  sitesIntervalMs?: number
  /** Registry resync period (expiries are noticed this fast). Default 1000 ms. */
  resyncMs?: number
  /** Delay before retrying a failed change. Default 2000 ms. */
  retryMs?: number
  /** How often the sessions of draining servers are read. Default 100 ms. */
  drainPollMs?: number
  /** After this long a draining server is deleted even with requests left. Default 10 min. */
  drainLimitMs?: number
  agentId?: string
  /**
   * The address the sites' ports listen on: 127.0.0.1 (default) serves this machine only (a
   * proxy in front, or the local fleet); 0.0.0.0 every address of the gateway's machine.
   */
  bindAddress?: string
}

/**
 * The gateway agent: for every site it is given, keeps the HAProxy site equal to the
 * discovery registry and publishes what is live. Restarting it is safe: it reads what HAProxy
 * runs, resyncs from the registry and from its last acknowledgements, and changes only the
 * difference (no reload when the sites are the same); HAProxy keeps serving while it is away.
 */
export class GatewayAgent {
  readonly #options: GatewayAgentOptions
  readonly #logger: Logger
  readonly #workers = new Map<string, SiteWorker>()
  #controller: AbortController | undefined
  #timer: NodeJS.Timeout | undefined
  #syncing: Promise<void> | undefined
  #syncNext: Promise<void> | undefined

  constructor(options: GatewayAgentOptions) {
    this.#options = options
    this.#logger = options.logger.child({ component: 'gateway-agent' })
  }

  /** Reads the sites and brings each one in line once; then keeps following them. */
  async start(): Promise<void> {
    if (this.#controller) return
    this.#controller = new AbortController()
    await this.sync()
    await Promise.all([...this.#workers.values()].map((worker) => worker.kick()))
    const every = this.#options.sitesIntervalMs ?? 5000
    this.#timer = setInterval(() => void this.sync(), every)
  }

  async stop(): Promise<void> {
    const controller = this.#controller
    if (!controller) return
    this.#controller = undefined
    controller.abort(new Error('gateway agent stopping'))
    clearInterval(this.#timer)
    await this.#syncNext
    await this.#syncing
    await Promise.all([...this.#workers.values()].map((worker) => worker.stop()))
    this.#workers.clear()
  }

  status(): SiteStatus[] {
    return [...this.#workers.values()].map((worker) => worker.status())
  }

  /**
   * Re-reads the sites now (also runs every `sitesIntervalMs`). While a sync runs, one more
   * follows it, so what the caller changed before calling is seen.
   */
  sync(): Promise<void> {
    if (this.#syncing) {
      this.#syncNext ??= this.#syncing.then(() => {
        this.#syncNext = undefined
        return this.sync()
      })
      return this.#syncNext
    }
    this.#syncing = this.#sync().finally(() => {
      this.#syncing = undefined
    })
    return this.#syncing
  }

  async #sync(): Promise<void> {
    const signal = this.#controller?.signal
    if (!signal || signal.aborted) return
    let wanted: Map<string, GatewaySite>
    try {
      const sites = await bounded('read gateway sites', this.#options.sites(signal), {
        timeoutMs: 15_000,
        signal,
      })
      wanted = this.#validate(sites)
    } catch (error) {
      if (!signal.aborted)
        this.#logger.error({ err: error }, 'could not read the sites to serve; keeping the current ones')
      return
    }
    for (const [key, worker] of this.#workers) {
      if (wanted.has(key)) continue
      this.#workers.delete(key)
      await this.#retire(worker.site, worker)
    }
    await this.#removeLeftovers(wanted, signal)
    for (const [key, site] of wanted) {
      const worker = this.#workers.get(key)
      if (worker) {
        worker.setListenPort(site.listenPort)
        worker.setSticky(site.sticky === true)
        void worker.verify()
        continue
      }
      const created = new SiteWorker(
        {
          registry: this.#options.registry,
          applier: this.#options.applier,
          redis: this.#options.redis,
          prefix: this.#options.prefix,
          logger: this.#logger,
          agentId: this.#options.agentId ?? `${hostname()}-${process.pid}`,
          bindAddress: this.#options.bindAddress ?? defaultBindAddress,
          resyncMs: this.#options.resyncMs ?? 1000,
          retryMs: this.#options.retryMs ?? 2000,
          drainPollMs: this.#options.drainPollMs ?? 100,
          drainLimitMs: this.#options.drainLimitMs ?? 10 * 60_000,
        },
        site,
      )
      try {
        await bounded(`follow ${key}`, created.start(), { timeoutMs: 15_000, signal })
        this.#workers.set(key, created)
      } catch (error) {
        await created.stop()
        this.#logger.error(
          { err: error, site: key },
          'could not start following a site; retrying at the next sync',
        )
      }
    }
  }

  /** Valid sites by key; a port claimed twice goes to the first site in key order. */
  #validate(sites: GatewaySite[]): Map<string, GatewaySite> {
    const wanted = new Map<string, GatewaySite>()
    const ports = new Map<number, string>()
    const valid: [string, GatewaySite][] = []
    for (const site of sites) {
      try {
        valid.push([
          siteKey(site.project, site.environment),
          { ...site, listenPort: assertPort('listenPort', site.listenPort) },
        ])
      } catch (error) {
        this.#logger.error({ site, err: errorMessage(error) }, 'ignoring an invalid gateway site')
      }
    }
    valid.sort(([a], [b]) => (a < b ? -1 : 1))
    for (const [key, site] of valid) {
      const holder = ports.get(site.listenPort)
      if (holder || wanted.has(key)) {
        this.#logger.error(
          { site: key, listenPort: site.listenPort, holder },
          'ignoring a gateway site: port or site listed twice',
        )
        continue
      }
      ports.set(site.listenPort, key)
      wanted.set(key, site)
    }
    return wanted
  }

  /**
   * Sites HAProxy still has from before (removed while no agent ran, or whose removal
   * failed): every managed site file no worker follows and the sites no longer list.
   */
  async #removeLeftovers(wanted: Map<string, GatewaySite>, signal: AbortSignal): Promise<void> {
    let managed: { project: string; environment: string }[]
    try {
      managed = await this.#options.applier.managedSites()
    } catch (error) {
      this.#logger.error({ err: error }, 'could not list the site files in the gateway folder')
      return
    }
    for (const site of managed) {
      const key = siteKey(site.project, site.environment)
      if (wanted.has(key) || this.#workers.has(key) || signal.aborted) continue
      await this.#retire(site)
    }
  }

  async #retire(site: { project: string; environment: string }, worker?: SiteWorker): Promise<void> {
    const { project, environment } = site
    await worker?.stop()
    try {
      await this.#options.applier.removeSite(project, environment)
      await deleteAck(this.#options.redis, this.#options.prefix, project, environment)
      this.#logger.info({ site: `${project}/${environment}` }, 'gateway site removed')
    } catch (error) {
      this.#logger.error({ err: error, site: `${project}/${environment}` }, 'could not remove a gateway site')
    }
  }
}
