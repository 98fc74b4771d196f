import { errorMessage, type Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import type { DiscoveryRegistry, SiteSnapshot } from '../discovery/registry.ts'
import type { RegistryWatch } from '../discovery/watch.ts'
import type { HaproxyApplier } from '../haproxy/applier.ts'
import { renderSite, siteNames } from '../haproxy/render.ts'
import { type GatewayAck, readAck, type ServedInstance, writeAck } from './ack.ts'
import { decideUpstream } from './decide.ts'

export interface GatewaySite {
  project: string
  environment: string
  /** The port the site's frontend listens on (on the agent's bind address). */
  listenPort: number
  /** Sticky sessions: a cookie keeps each client on the instance that first answered it. */
  sticky?: boolean
}

export interface SiteWorkerDeps {
  registry: DiscoveryRegistry
  applier: HaproxyApplier
  redis: Redis
  prefix: string
  logger: Logger
  agentId: string
  /** The address every site's frontend listens on (renderSite's bindAddress). */
  bindAddress: string
  resyncMs: number
  retryMs: number
  /** How often the sessions of draining servers are read. */
  drainPollMs: number
  /** After this long a draining server is deleted even with sessions left. */
  drainLimitMs: number
}

/** What one site looks like from the agent (for status pages and tests). */
export interface SiteStatus extends GatewaySite {
  ack?: GatewayAck
  /** Servers taken out whose requests have not all finished yet. */
  draining: string[]
  lastError?: string
}

/**
 * Keeps one site's HAProxy backend equal to the registry (with fail static): watches the
 * registry, renders, applies, acknowledges. At most one pass runs at a time; changes that
 * arrive meanwhile are folded into one more pass. Servers taken out are followed until no
 * worker holds a request for them, then deleted, and their generation acknowledged drained.
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
  #drainTimer: NodeJS.Timeout | undefined
  #lastError: string | undefined
  /** Draining server -> the generation that took it out and when it started draining. */
  readonly #pending = new Map<string, { generation: number; since: number }>()

  constructor(deps: SiteWorkerDeps, site: GatewaySite) {
    this.#deps = deps
    this.#site = site
    this.#logger = deps.logger.child({ site: `${site.project}/${site.environment}` })
  }

  get site(): GatewaySite {
    return this.#site
  }

  status(): SiteStatus {
    return {
      ...this.#site,
      ack: this.#served,
      draining: [...this.#pending.keys()],
      lastError: this.#lastError,
    }
  }

  /** Loads what was acknowledged before (the fail-static baseline), then follows the registry. */
  async start(): Promise<void> {
    const { project, environment } = this.#site
    try {
      this.#served = await readAck(this.#deps.redis, this.#deps.prefix, project, environment)
    } catch (error) {
      this.#logger.warn({ err: error }, 'could not read the last gateway ack; starting without a baseline')
    }
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
          this.#logger.warn({ err: error }, 'registry read failed; keeping what HAProxy serves'),
      },
    )
  }

  setListenPort(listenPort: number): void {
    if (listenPort === this.#site.listenPort) return
    this.#site = { ...this.#site, listenPort }
    void this.kick()
  }

  /** Turning it on or off changes the backend's config: the applier reloads HAProxy once. */
  setSticky(sticky: boolean): void {
    if (sticky === (this.#site.sticky === true)) return
    this.#site = { ...this.#site, sticky }
    void this.kick()
  }

  /** Re-reads what HAProxy serves for the site and converges if it drifted. */
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
    clearTimeout(this.#drainTimer)
    await this.#watch?.close()
    await this.#running
  }

  async #pass(): Promise<void> {
    const snapshot = this.#snapshot
    if (!snapshot) return
    const signal = this.#controller.signal
    try {
      const { project, environment, listenPort, sticky } = this.#site
      const decision = decideUpstream(snapshot, this.#served?.instances)
      const rendered = renderSite({
        project,
        environment,
        listenPort,
        bindAddress: this.#deps.bindAddress,
        instances: decision.instances,
        ...(sticky ? { sticky: { secret: await this.#deps.applier.cookieSecret() } } : {}),
      })
      const served = this.#served
      const same =
        served?.version === rendered.version &&
        served.listenPort === listenPort &&
        served.failStatic === decision.failStatic
      if (!this.#confirmed || !same) {
        const applied = await this.#deps.applier.apply(rendered, { signal })
        for (const server of rendered.servers) this.#pending.delete(server.id)
        const acknowledge = !same || applied.changed || !served
        // Generations count for the site, whichever agent wrote the last ack (several workers
        // may follow one HAProxy): the next one is above both.
        const latest = acknowledge
          ? await readAck(this.#deps.redis, this.#deps.prefix, project, environment, { signal })
          : undefined
        const base = Math.max(served?.generation ?? 0, latest?.generation ?? 0)
        const generation = acknowledge ? base + 1 : base
        const now = Date.now()
        // A server already out when this change came was taken out by a generation up to `base`.
        for (const name of applied.draining)
          if (!this.#pending.has(name))
            this.#pending.set(name, {
              generation: applied.removed.includes(name) ? generation : base,
              since: now,
            })
        if (acknowledge) {
          const ack: GatewayAck = {
            project,
            environment,
            listenPort,
            version: rendered.version,
            instances: rendered.servers.map(
              ({ id, host, address, port, weight }): ServedInstance =>
                weight === undefined ? { id, host, address, port } : { id, host, address, port, weight },
            ),
            failStatic: decision.failStatic,
            appliedAt: new Date().toISOString(),
            agentId: this.#deps.agentId,
            generation,
            drained: this.#drainedUpTo(generation),
          }
          if (!(await writeAck(this.#deps.redis, this.#deps.prefix, ack, { signal }))) {
            // Another agent acknowledged a higher generation since `latest` was read: one more
            // pass takes a generation above it (the servers this one took out keep theirs, lower).
            this.#again = true
            return
          }
          this.#logTransition(ack, snapshot)
          this.#served = ack
        }
        this.#confirmed = true
        this.#lastError = undefined
      }
    } catch (error) {
      if (signal.aborted) return
      this.#lastError = errorMessage(error)
      this.#logger.error({ err: error }, 'gateway change failed; HAProxy keeps what it serves, retrying')
      clearTimeout(this.#retry)
      this.#retry = setTimeout(() => void this.kick(), this.#deps.retryMs)
      return
    }
    try {
      await this.#drainStep()
    } catch (error) {
      if (signal.aborted) return
      // A reload a moment ago (the master CLI does not answer while it re-executes), Redis...
      this.#logger.warn({ err: error }, 'could not follow the draining servers; trying again')
      clearTimeout(this.#drainTimer)
      this.#drainTimer = setTimeout(() => void this.kick(), this.#deps.retryMs)
    }
  }

  /**
   * Deletes the draining servers nobody holds a request for any more, acknowledges the
   * generations whose removals are all gone, and comes back while some are left.
   */
  async #drainStep(): Promise<void> {
    const served = this.#served
    if (!served) return
    if (this.#pending.size > 0) {
      const { project, environment, listenPort } = this.#site
      const { backend } = siteNames(project, environment, listenPort)
      const now = Date.now()
      const names = [...this.#pending.keys()]
      const force = new Set(
        names.filter((name) => now - (this.#pending.get(name)?.since ?? now) > this.#deps.drainLimitMs),
      )
      if (force.size > 0)
        this.#logger.warn(
          { servers: [...force], drainLimitMs: this.#deps.drainLimitMs },
          'drain limit passed: deleting servers that still hold requests',
        )
      const done = await this.#deps.applier.finishDrain(backend, names, {
        force,
        signal: this.#controller.signal,
      })
      for (const name of done) this.#pending.delete(name)
    }
    const drained = this.#drainedUpTo(served.generation ?? 0)
    if (drained !== served.drained) {
      const ack = { ...served, drained }
      // Dropped when another agent acknowledged a higher generation: that agent reports it
      // drained, and this older ack must not replace it (see writeAck).
      await writeAck(this.#deps.redis, this.#deps.prefix, ack, { signal: this.#controller.signal })
      this.#served = ack
    }
    clearTimeout(this.#drainTimer)
    if (this.#pending.size > 0) this.#drainTimer = setTimeout(() => void this.kick(), this.#deps.drainPollMs)
  }

  /** The highest generation up to `current` none of whose removed servers is still draining. */
  #drainedUpTo(current: number): number {
    let lowest = Number.POSITIVE_INFINITY
    for (const { generation } of this.#pending.values()) lowest = Math.min(lowest, generation)
    const clear = Math.min(current, lowest - 1)
    return Math.max(this.#served?.drained ?? 0, clear)
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
