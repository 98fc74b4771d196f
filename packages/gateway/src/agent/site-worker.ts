import { errorMessage, type Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import type { DiscoveryRegistry, SiteSnapshot } from '../discovery/registry.ts'
import type { RegistryWatch } from '../discovery/watch.ts'
import type { NginxApplier, WorkerGeneration } from '../nginx/applier.ts'
import { renderSite } from '../nginx/render.ts'
import { workersExited } from '../nginx/workers.ts'
import { type GatewayAck, readAck, writeAck } from './ack.ts'
import { decideUpstream } from './decide.ts'

export interface GatewaySite {
  project: string
  environment: string
  /** The 127.0.0.1 port the site's server listens on. */
  listenPort: number
}

export interface SiteWorkerDeps {
  registry: DiscoveryRegistry
  applier: NginxApplier
  redis: Redis
  prefix: string
  logger: Logger
  agentId: string
  addressOf: (host: string) => string
  resyncMs: number
  retryMs: number
}

/** What one site looks like from the agent (for status pages and tests). */
export interface SiteStatus extends GatewaySite {
  ack?: GatewayAck
  lastError?: string
}

/** How long the agent follows one generation of old nginx workers before it stops waiting. */
const drainWatchLimitMs = 10 * 60_000

/**
 * Keeps one site's nginx upstream equal to the registry (with fail static): watches the
 * registry, renders, applies, acknowledges. At most one apply runs at a time; changes that
 * arrive meanwhile are folded into one more pass. After each reload it follows the previous
 * nginx workers and, once they have exited (their requests finished), acknowledges that
 * generation as drained.
 */
export class SiteWorker {
  readonly #deps: SiteWorkerDeps
  readonly #logger: Logger
  readonly #controller = new AbortController()
  #site: GatewaySite
  #watch: RegistryWatch | undefined
  #snapshot: SiteSnapshot | undefined
  #served: GatewayAck | undefined
  #confirmed = false
  #running: Promise<void> | undefined
  #again = false
  #retry: NodeJS.Timeout | undefined
  #lastError: string | undefined
  /** Highest generation whose previous workers are gone; `#drainedDirty` until acknowledged. */
  #drained: number | undefined
  #drainedDirty = false

  constructor(deps: SiteWorkerDeps, site: GatewaySite) {
    this.#deps = deps
    this.#site = site
    this.#logger = deps.logger.child({ site: `${site.project}/${site.environment}` })
  }

  get site(): GatewaySite {
    return this.#site
  }

  status(): SiteStatus {
    return { ...this.#site, ack: this.#served, lastError: this.#lastError }
  }

  /** Loads what was acknowledged before (the fail-static baseline), then follows the registry. */
  async start(): Promise<void> {
    const { project, environment } = this.#site
    this.#served = await readAck(this.#deps.redis, this.#deps.prefix, project, environment).catch((error) => {
      this.#logger.warn({ err: error }, 'could not read the last gateway ack; starting without a baseline')
      return undefined
    })
    this.#drained = this.#served?.drained
    this.#watch = await this.#deps.registry.watch(
      project,
      environment,
      (snapshot) => {
        this.#snapshot = snapshot
        void this.kick()
      },
      {
        resyncMs: this.#deps.resyncMs,
        onError: (error) =>
          this.#logger.warn({ err: error }, 'registry read failed; keeping the live config'),
      },
    )
  }

  setListenPort(listenPort: number): void {
    if (listenPort === this.#site.listenPort) return
    this.#site = { ...this.#site, listenPort }
    void this.kick()
  }

  /** Re-checks that nginx serves the acknowledged config (rewrites and reloads it if not). */
  verify(): Promise<void> {
    this.#confirmed = false
    return this.kick()
  }

  /** Runs a pass now (or one more after the running one); resolves when the loop is idle. */
  kick(): Promise<void> {
    if (this.#controller.signal.aborted) return Promise.resolve()
    if (this.#running) {
      this.#again = true
      return this.#running
    }
    this.#running = (async () => {
      do {
        this.#again = false
        await this.#pass()
      } while (this.#again && !this.#controller.signal.aborted)
      this.#running = undefined
    })()
    return this.#running
  }

  async stop(): Promise<void> {
    this.#controller.abort(new Error('gateway agent stopping'))
    clearTimeout(this.#retry)
    await this.#watch?.close()
    await this.#running
  }

  async #pass(): Promise<void> {
    const snapshot = this.#snapshot
    if (!snapshot) return
    const { project, environment, listenPort } = this.#site
    try {
      const decision = decideUpstream(snapshot, this.#served?.instances)
      const rendered = renderSite({
        project,
        environment,
        listenPort,
        instances: decision.instances.map((instance) => ({
          ...instance,
          address: this.#deps.addressOf(instance.host),
        })),
      })
      if (this.#confirmed && this.#served?.version === rendered.version) {
        await this.#acknowledgeDrained()
        return
      }
      const applied = await this.#deps.applier.apply(rendered, { signal: this.#controller.signal })
      const generation = (this.#served?.generation ?? 0) + 1
      this.#drainedDirty = false
      const ack: GatewayAck = {
        project,
        environment,
        listenPort,
        version: rendered.version,
        instances: decision.instances,
        failStatic: decision.failStatic,
        appliedAt: new Date().toISOString(),
        agentId: this.#deps.agentId,
        generation,
        drained: this.#drained,
      }
      await writeAck(this.#deps.redis, this.#deps.prefix, ack, { signal: this.#controller.signal })
      this.#logTransition(ack, snapshot)
      this.#served = ack
      this.#confirmed = true
      this.#lastError = undefined
      if (applied.previous) void this.#followDrain(generation, applied.previous)
    } catch (error) {
      if (this.#controller.signal.aborted) return
      this.#lastError = errorMessage(error)
      this.#logger.error({ err: error }, 'gateway apply failed; keeping the live config and retrying')
      clearTimeout(this.#retry)
      this.#retry = setTimeout(() => void this.kick(), this.#deps.retryMs)
    }
  }

  /** Once the workers that ran before `generation` have exited, acknowledges it as drained. */
  async #followDrain(generation: number, previous: WorkerGeneration): Promise<void> {
    const gone = await workersExited(previous.master, previous.pids, {
      limitMs: drainWatchLimitMs,
      signal: this.#controller.signal,
    })
    if (!gone || generation <= (this.#drained ?? 0)) return
    this.#drained = generation
    this.#drainedDirty = true
    void this.kick()
  }

  /** Writes the acknowledged config again with the drained generation, when it moved. */
  async #acknowledgeDrained(): Promise<void> {
    if (!this.#drainedDirty || !this.#served) return
    const ack = { ...this.#served, drained: this.#drained }
    await writeAck(this.#deps.redis, this.#deps.prefix, ack, { signal: this.#controller.signal })
    this.#served = ack
    this.#drainedDirty = false
  }

  #logTransition(ack: GatewayAck, snapshot: SiteSnapshot): void {
    const ids = ack.instances.map((instance) => instance.id)
    if (ack.failStatic && !this.#served?.failStatic)
      this.#logger.warn(
        { instances: ids, expired: snapshot.expired },
        'fail static: no live registry entry; keeping the last instances whose heartbeats stopped',
      )
    else if (!ack.failStatic && this.#served?.failStatic)
      this.#logger.info({ instances: ids }, 'fail static over: the registry has live instances again')
    if (this.#served?.version !== ack.version)
      this.#logger.info(
        { version: ack.version, instances: ids, listenPort: ack.listenPort },
        'gateway site updated',
      )
  }
}
