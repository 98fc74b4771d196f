import path from 'node:path'
import { AppError, type Logger } from '@slipway/core'
import { siteKey } from '../names.ts'
import { type LeaseOptions, withLease } from '../support/lease.ts'
import { leaving, mismatches, planServers, type ServerStep } from './converge.ts'
import { readOptional, readOrCreateSecret, replaceFile, siteFiles } from './files.ts'
import { checkConfig, type HaproxyTarget } from './layout.ts'
import { portTaken, type ReloadContext, reloadWithFile } from './reload.ts'
import { managedMarker, type RenderedSite, serverTarget } from './render.ts'
import { adminMaint, HaproxyRuntime, type ServerState } from './runtime.ts'

export interface HaproxyApplierOptions {
  target: HaproxyTarget
  logger?: Logger
  /** A Redis lease taken around every change, when several processes change this HAProxy. */
  lease?: LeaseOptions
  /** How long a reload may take to be confirmed. Default 10 s. */
  confirmTimeoutMs?: number
}

export interface ApplyResult {
  version: string
  /** False when HAProxy already served exactly this site: nothing was sent. */
  changed: boolean
  /** True when the change needed the config (new site, changed listen port or stickiness) and a reload. */
  reloaded: boolean
  /** From `reload` to the new worker confirmed, when there was a reload. */
  reloadMs?: number
  /** The Runtime API commands sent. */
  commands: string[]
  /**
   * Servers out of the site that HAProxy may still hold requests for (set to drain now or
   * before, or left in an old worker by the reload): `finishDrain` deletes them once idle.
   */
  draining: string[]
  /** Those of `draining` this change took out (the others were out before it). */
  removed: string[]
}

/** `{project}_{environment}.cfg` */
const slug = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
const siteFile = new RegExp(`^(${slug})_(${slug})\\.cfg$`)

/**
 * Puts rendered sites into one HAProxy. Instance changes inside a live site go only through
 * the Runtime API (add + enable, drain; `finishDrain` later sets maintenance and deletes) and
 * the site file follows without a reload. Only a new site, a changed listen port, sticky
 * sessions turned on or off (the backend's cookie lines) or a removed site touch the config: checked whole with `haproxy -c`, moved in, seamless reload,
 * confirmed on the Runtime API. Changes are serialised per applier (use one per HAProxy per
 * process) and, with `lease`, across processes.
 */
export class HaproxyApplier {
  readonly target: HaproxyTarget
  readonly runtime: HaproxyRuntime
  readonly #logger: Logger | undefined
  readonly #lease: LeaseOptions | undefined
  readonly #confirmTimeoutMs: number
  #queue: Promise<unknown> = Promise.resolve()
  #secret: Promise<string> | undefined

  constructor(options: HaproxyApplierOptions) {
    this.target = options.target
    this.runtime = new HaproxyRuntime(options.target)
    this.#logger = options.logger
    this.#lease = options.lease
    this.#confirmTimeoutMs = options.confirmTimeoutMs ?? 10_000
  }

  /** Makes HAProxy serve `site`; a site already served as rendered is a no-op (no lease taken). */
  async apply(site: RenderedSite, options: { signal?: AbortSignal } = {}): Promise<ApplyResult> {
    const { signal } = options
    const live = await this.#liveSite(site, signal)
    const file = await readOptional(path.join(this.target.sitesDir, site.fileName))
    if (live && planServers(site.servers, live).length === 0 && file === site.text) {
      return {
        version: site.version,
        changed: false,
        reloaded: false,
        commands: [],
        draining: leaving(site.servers, live),
        removed: [],
      }
    }
    return this.#serialised(signal, async () => {
      const current = await this.#liveSite(site, signal)
      return current ? this.#converge(site, current, signal) : this.#reloadSite(site, signal)
    })
  }

  /**
   * The secret that keys this HAProxy's sticky cookies (renderSite's `sticky.secret`):
   * `DIR/cookie.key`, made once (random, mode 600) by whichever agent needs it first, so
   * every agent of this HAProxy and every reload give an instance the same cookie.
   */
  cookieSecret(): Promise<string> {
    this.#secret ??= readOrCreateSecret(path.join(this.target.dir, 'cookie.key')).catch((error: unknown) => {
      this.#secret = undefined
      throw error
    })
    return this.#secret
  }

  /** Takes a site out of HAProxy: its file removed, reload, its frontend and backend gone. */
  removeSite(project: string, environment: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const key = siteKey(project, environment)
    const fileName = `${key}.cfg`
    const backend = `be_${key}`
    const name = `${project}/${environment}`
    const { signal } = options
    return this.#serialised(signal, async () => {
      const file = path.join(this.target.sitesDir, fileName)
      const present = (await readOptional(file)) !== undefined
      if (!present && !(await this.runtime.servers(backend, signal))) return
      const reload = await reloadWithFile(this.#context(signal), name, fileName, undefined, async () => {
        return (await this.runtime.servers(backend, signal)) === undefined
      })
      this.#logger?.info({ site: name, reloadMs: reload.ms }, 'gateway site removed from HAProxy')
    })
  }

  /** The sites whose files the gateway wrote (`{project}_{environment}.cfg` with its marker). */
  async managedSites(): Promise<{ project: string; environment: string }[]> {
    const sites: { project: string; environment: string }[] = []
    for (const name of await siteFiles(this.target.sitesDir)) {
      const match = siteFile.exec(name)
      const text = match ? await readOptional(path.join(this.target.sitesDir, name)) : undefined
      if (match?.[1] && match[2] && text?.startsWith(managedMarker))
        sites.push({ project: match[1], environment: match[2] })
    }
    return sites
  }

  /**
   * Deletes the servers among `names` that no worker (old ones included) holds a session
   * for: maintenance, then `del server`. Those in `force` (their drain limit passed) go even
   * with sessions left. Resolves with the names that are out of the backend now.
   */
  async finishDrain(
    backend: string,
    names: readonly string[],
    options: { force?: ReadonlySet<string>; signal?: AbortSignal } = {},
  ): Promise<string[]> {
    const { force, signal } = options
    if (names.length === 0) return []
    const sessions = await this.runtime.sessions(backend, signal)
    const idle = names.filter((name) => force?.has(name) || !((sessions.get(name) ?? 0) > 0))
    if (idle.length === 0) return []
    return this.#serialised(signal, async () => {
      const live = new Map((await this.runtime.servers(backend, signal))?.map((s) => [s.name, s]))
      const done: string[] = []
      for (const name of idle) {
        const server = live.get(name)
        // Gone already, or serving again (someone put it back): nothing of ours to delete.
        if (!server || server.admin === 0) {
          done.push(name)
          continue
        }
        if (!(server.admin & adminMaint)) await this.runtime.setState(backend, name, 'maint', signal)
        if (force?.has(name)) await this.runtime.shutdownSessions(backend, name, signal)
        await this.runtime.deleteServer(backend, name, signal)
        done.push(name)
      }
      if (done.length > 0)
        this.#logger?.info({ backend, servers: done }, 'drained servers deleted from HAProxy')
      return done
    })
  }

  /** `haproxy -c` of the config as it is on disk. */
  async testCurrent(signal?: AbortSignal): Promise<void> {
    const run = await checkConfig(this.target, this.target.sitesDir, signal)
    if (run.code !== 0)
      throw new AppError('VALIDATION_FAILED', `HAProxy rejects ${this.target.config}: ${run.output}`)
  }

  #serialised<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    const lease = this.#lease
    const locked = lease ? () => withLease(lease, signal, work) : work
    const next = this.#queue.then(() => {
      if (signal?.aborted) throw new AppError('CANCELED', 'gateway change canceled', { cause: signal.reason })
      return locked()
    })
    // The queue only orders the changes; each caller gets its own outcome from `next`.
    this.#queue = next.then(
      () => undefined,
      () => undefined,
    )
    return next
  }

  /**
   * The backend's servers when the site's frontend (on its port) and backend are live, the
   * backend with the sticky cookie as rendered (or none when the site is not sticky).
   */
  async #liveSite(site: RenderedSite, signal?: AbortSignal): Promise<ServerState[] | undefined> {
    const servers = await this.runtime.servers(site.backend, signal)
    if (!servers || !(await this.runtime.hasProxy(site.frontend, signal))) return undefined
    if ((await this.runtime.cookies(site.backend, signal))?.name !== (site.cookie ?? '')) return undefined
    return servers
  }

  async #converge(site: RenderedSite, live: ServerState[], signal?: AbortSignal): Promise<ApplyResult> {
    const started = performance.now()
    const steps = planServers(site.servers, live)
    const commands: string[] = []
    for (const step of steps) commands.push(...(await this.#run(site, step, signal)))
    await this.#writeSiteFile(site)
    const after = (await this.runtime.servers(site.backend, signal)) ?? []
    const problems = mismatches(site.servers, after)
    if (site.cookie && commands.length > 0) {
      const cookies = (await this.runtime.cookies(site.backend, signal))?.servers
      for (const server of site.servers)
        if (!cookies?.get(server.id)) problems.push(`${server.id} has no sticky cookie`)
    }
    if (problems.length > 0)
      throw new AppError(
        'DEPENDENCY_UNAVAILABLE',
        `HAProxy does not serve ${site.project}/${site.environment} as set: ${problems.join('; ')}`,
        { details: { site: site.key, problems } },
      )
    if (commands.length > 0)
      this.#logger?.info(
        {
          site: `${site.project}/${site.environment}`,
          version: site.version,
          commands,
          ms: Math.round(performance.now() - started),
        },
        'gateway servers changed through the Runtime API',
      )
    return {
      version: site.version,
      changed: commands.length > 0,
      reloaded: false,
      commands,
      draining: leaving(site.servers, after),
      removed: steps.flatMap((step) => (step.kind === 'drain' ? [step.name] : [])),
    }
  }

  async #run(site: RenderedSite, step: ServerStep, signal?: AbortSignal): Promise<string[]> {
    const runtime = this.runtime
    const backend = site.backend
    switch (step.kind) {
      case 'add': {
        const { id, address, port, weight } = step.server
        await runtime.addServer(backend, id, address, port, signal, weight)
        // Added in maintenance; its sticky cookie before it takes a request (see renderSite).
        if (site.cookie) await runtime.enableDynamicCookies(backend, signal)
        await runtime.enableServer(backend, id, signal)
        return [
          `add server ${backend}/${id}`,
          ...(site.cookie ? [`enable dynamic-cookie backend ${backend}`] : []),
          `enable server ${backend}/${id}`,
        ]
      }
      case 'address':
        await runtime.setAddress(backend, step.server.id, step.server.address, step.server.port, signal)
        return [`set server ${backend}/${step.server.id} addr`]
      case 'weight':
        await runtime.setWeight(backend, step.name, step.weight, signal)
        return [`set server ${backend}/${step.name} weight ${step.weight}`]
      case 'ready':
        await runtime.setState(backend, step.name, 'ready', signal)
        return [`set server ${backend}/${step.name} state ready`]
      case 'drain': {
        // HAProxy still sends a draining server the clients whose cookie names it, for as long
        // as they come (it could never be idle): on a sticky site the server goes straight to
        // maintenance, which sends them to another server; requests in flight finish either way.
        const state = site.cookie ? 'maint' : 'drain'
        await runtime.setState(backend, step.name, state, signal)
        return [`set server ${backend}/${step.name} state ${state}`]
      }
    }
  }

  async #reloadSite(site: RenderedSite, signal?: AbortSignal): Promise<ApplyResult> {
    const name = `${site.project}/${site.environment}`
    // A backend live without its frontend on this port (the port changed) or with another
    // cookie line (sticky turned on or off, rare: an operator's setting). The reload costs a
    // new worker (tens of ms, confirmed before this returns); the old one finishes its
    // connections; the servers, weights included, come from the file, which followed them.
    const previous = (await this.runtime.servers(site.backend, signal)) ?? []
    // The site's own frontend on this port (sticky changed) holds it; the reload passes it on.
    const ours = await this.runtime.hasProxy(site.frontend, signal)
    if (!ours && (await portTaken(site.bindAddress, site.listenPort)))
      throw new AppError(
        'VALIDATION_FAILED',
        `the listen port of ${name}, ${serverTarget(site.bindAddress, site.listenPort)}, is taken`,
        {
          details: { site: name, listenPort: site.listenPort },
        },
      )
    const reload = await reloadWithFile(this.#context(signal), name, site.fileName, site.text, async () => {
      const live = await this.#liveSite(site, signal)
      return !!live && mismatches(site.servers, live).length === 0
    })
    const draining = leaving(site.servers, previous)
    this.#logger?.info(
      { site: name, version: site.version, servers: site.servers.map((s) => s.id), reloadMs: reload.ms },
      'gateway site configured (HAProxy reloaded)',
    )
    return {
      version: site.version,
      changed: true,
      reloaded: true,
      reloadMs: reload.ms,
      commands: ['reload'],
      draining,
      removed: previous
        .filter((server) => server.admin === 0 && draining.includes(server.name))
        .map((s) => s.name),
    }
  }

  async #writeSiteFile(site: RenderedSite): Promise<void> {
    const file = path.join(this.target.sitesDir, site.fileName)
    if ((await readOptional(file)) !== site.text) await replaceFile(file, site.text)
  }

  #context(signal?: AbortSignal): ReloadContext {
    return { target: this.target, runtime: this.runtime, confirmTimeoutMs: this.#confirmTimeoutMs, signal }
  }
}
