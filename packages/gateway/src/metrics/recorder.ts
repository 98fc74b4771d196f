import { randomBytes } from 'node:crypto'
import { type AppError, errorMessage, type Logger } from '@slipway/core'
import type { Redis } from 'ioredis'
import { DiscoveryRegistry } from '../discovery/registry.ts'
import { redisCall } from '../support/redis-call.ts'
import { adminCommand, RingFollower, type WorkerIdentity, workerIdentity } from './follow.ts'
import { parseTrafficLine, siteOfBackend, type TrafficSite } from './parse.ts'
import { type ReleaseOf, registryReleaseOf } from './release-of.ts'
import { anchorLength, indexAfter, tailOf } from './ring.ts'
import { readWritten, type SecondWrite, trafficKeys, type WrittenMark, writeSeconds } from './store.ts'
import { SecondTally, unknownRelease } from './tally.ts'

export interface TrafficRecorderOptions {
  /** HAProxy's Runtime API socket (`stats socket ... level admin`). */
  adminSocket: string
  redis: Redis
  /** Key prefix (the registry's; tests use a unique one). */
  prefix: string
  logger: Logger
  /** Default: the discovery registry under `prefix` (`registryReleaseOf`). */
  releaseOf?: ReleaseOf
  /** The ring the requests are logged into. Default `slipway-traffic`. */
  ring?: string
  /** The write lease's time to live, renewed at a third of it. Default 10 s. */
  leaseTtlMs?: number
  /** A second is written once the clock is this far past its end. Default 500 ms. */
  graceMs?: number
  /** How often finished seconds are written and the worker is checked. Default 250 ms. */
  tickMs?: number
  /** Reconnect backoff after a failed connection: doubles from `min` up to `max`. Default 250 ms..5 s. */
  reconnectMs?: { min: number; max: number }
  /** An old worker's connection (after a reload) closes once its ring stayed quiet this long. Default 3 s. */
  oldWorkerQuietMs?: number
}

const recordTimeoutMs = 5000
/** How long a new ring connection may take to hand over its dump. */
const startTimeoutMs = 10_000
/** How often the Runtime API is asked which worker answers (a reload starts a new one). */
const workerCheckMs = 1000
/** What a worker logs for each proxy when it stops (soft-stop at a reload or a stop). */
const stoppingPattern = /^Proxy \S+ stopped \(/

/** Where one worker's ring stands: the seconds its lines went to, and the last lines. */
interface Cursor {
  /** The second the last request line went to (seconds only grow in ring order). */
  secondMs: number
  /** The last ring lines processed. */
  lines: string[]
  /** Where each later second began in the ring: the lines before its first request. */
  starts: { secondMs: number; anchor: string[] }[]
}

interface Followed {
  follower: RingFollower
  worker: WorkerIdentity | undefined
  lastLineAt: number
  startedAt: number
  old: boolean
}

/**
 * Follows HAProxy's `slipway-traffic` ring (one line per request) and writes, per site and
 * per second, what the gateway saw into Redis streams (see `store.ts`). One recorder in the
 * fleet writes at a time (a Redis lease); the others wait to take over.
 *
 * **Seconds.** A request goes to the second of `%Ts.%ms + %Ta` (its end as HAProxy tells it,
 * early by the idle time of a kept-alive connection), never before the second its worker's
 * previous request went to (so the seconds follow ring order: written seconds are a prefix
 * of each worker's ring), and never to a second already written. A second is written
 * `graceMs` after it ends, with every site's entries and the new mark in one script.
 *
 * **Takeover and reconnects.** With each write goes each worker's anchor: the ring lines
 * that end the written seconds. A recorder that takes over (or reconnects) dumps the ring
 * and resumes right after the anchor, so a second still in the ring is neither lost nor
 * written twice. Without an anchor in the ring (HAProxy restarted, the ring wrapped), it
 * resumes with the lines that end after the last written second.
 *
 * **Reloads.** A reload starts a new worker with an empty ring, while the old one finishes
 * its requests: the recorder checks the worker's pid every tick, follows the new worker from
 * its start and keeps the old one's connection until its ring is quiet.
 */
export class TrafficRecorder {
  readonly #options: Required<Omit<TrafficRecorderOptions, 'releaseOf'>>
  readonly #releaseOf: ReleaseOf
  readonly #logger: Logger
  readonly #token = randomBytes(12).toString('hex')
  readonly #keys: ReturnType<typeof trafficKeys>
  #running = false
  #leader = false
  #timer: NodeJS.Timeout | undefined
  #lastLeaseAt = 0
  #lastWorkerCheckAt = 0
  /** A worker said it is stopping (a reload): check which one answers before writing. */
  #workerCheckDue = false
  #connections = 0
  #failedSteps = 0
  #lastFailureLogAt = 0
  #ticking = false
  /** The last second written (from Redis when taking over). */
  #mark: WrittenMark | undefined
  /** Lines go to this second or later (a second being written takes no more lines). */
  #openFromMs = Number.NEGATIVE_INFINITY
  readonly #pending = new Map<number, Map<string, { site: TrafficSite; tally: SecondTally }>>()
  readonly #cursors = new Map<string, Cursor>()
  readonly #followed = new Set<Followed>()
  #current: Followed | undefined
  #reconnectAt = 0
  #backoffMs = 0
  /** Whether this recorder took the lease with no memory of the ring (resume by time). */
  #fresh = true

  constructor(options: TrafficRecorderOptions) {
    this.#options = {
      ring: 'slipway-traffic',
      leaseTtlMs: 10_000,
      graceMs: 500,
      tickMs: 250,
      reconnectMs: { min: 250, max: 5000 },
      oldWorkerQuietMs: 3000,
      ...options,
    }
    this.#logger = options.logger.child({ component: 'traffic-recorder' })
    this.#keys = trafficKeys(options.prefix)
    this.#releaseOf =
      options.releaseOf ??
      registryReleaseOf(
        new DiscoveryRegistry({ redis: options.redis, prefix: options.prefix, logger: this.#logger }),
      )
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.#timer = setInterval(() => this.#tick(), this.#options.tickMs)
    this.#tick()
  }

  /** Writes what is due, closes the connections and gives the lease up. */
  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    clearInterval(this.#timer)
    // A step is bounded (Redis calls 5 s, HAProxy commands 2 s): wait for it, at most 15 s.
    for (let waited = 0; this.#ticking && waited < 15_000; waited += 10)
      await new Promise((resolve) => setTimeout(resolve, 10))
    if (this.#leader) {
      await this.#writeDue().catch((error: unknown) =>
        this.#logger.warn(
          { err: error },
          'traffic: the last seconds were not written at stop (the next recorder reads them from the ring)',
        ),
      )
      const release = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
      await redisCall(
        'release traffic lease',
        this.#options.redis.eval(release, 1, this.#keys.lease, this.#token),
      ).catch((error: unknown) =>
        this.#logger.warn({ err: error }, 'traffic lease release failed (it expires by itself)'),
      )
    }
    this.#demote()
  }

  /** For status pages and tests. */
  status(): {
    leader: boolean
    writtenUpToMs: number | undefined
    workers: string[]
    live: boolean
    /** Ring connections opened since start (reconnects and reloads add one each). */
    connections: number
  } {
    return {
      connections: this.#connections,
      leader: this.#leader,
      writtenUpToMs: this.#mark ? this.#mark.secondMs + 1000 : undefined,
      workers: [...this.#followed].flatMap((f) => (f.worker ? [f.worker.key] : [])),
      live: this.#current?.follower.live ?? false,
    }
  }

  #tick(): void {
    if (this.#ticking || !this.#running) return
    this.#ticking = true
    this.#step()
      .catch((error: unknown) => this.#stepFailed(error))
      .finally(() => {
        this.#ticking = false
      })
  }

  /** Logs a failed step (Redis away: the seconds stay pending), once per 5 s with the count. */
  #stepFailed(error: unknown): void {
    this.#failedSteps++
    const now = Date.now()
    if (now - this.#lastFailureLogAt < 5000) return
    this.#lastFailureLogAt = now
    this.#logger.error(
      { err: error, failedSteps: this.#failedSteps },
      'traffic recorder step failed; retrying',
    )
    this.#failedSteps = 0
  }

  async #step(): Promise<void> {
    const now = Date.now()
    if (now - this.#lastLeaseAt >= this.#options.leaseTtlMs / 3) {
      this.#lastLeaseAt = now
      await this.#holdLease()
    }
    if (!this.#leader) return
    if (!this.#current && now >= this.#reconnectAt) this.#connect()
    this.#closeStuck(now)
    this.#closeQuietOldWorkers(now)
    if (this.#workerCheckDue || now - this.#lastWorkerCheckAt >= workerCheckMs) {
      this.#lastWorkerCheckAt = now
      this.#workerCheckDue = false
      await this.#checkWorker()
    }
    await this.#writeDue()
  }

  async #holdLease(): Promise<void> {
    const { redis, leaseTtlMs } = this.#options
    const key = this.#keys.lease
    try {
      if (this.#leader) {
        const renew = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`
        const kept = await redisCall(
          'renew traffic lease',
          redis.eval(renew, 1, key, this.#token, String(leaseTtlMs)),
        )
        if (kept !== 1) {
          this.#logger.error({ key }, 'traffic lease lost: another recorder writes now')
          this.#demote()
        }
        return
      }
      const taken = await redisCall('take traffic lease', redis.set(key, this.#token, 'PX', leaseTtlMs, 'NX'))
      if (taken !== 'OK') return
      this.#mark = await readWritten(redis, this.#options.prefix)
      this.#openFromMs = this.#mark ? this.#mark.secondMs + 1000 : Number.NEGATIVE_INFINITY
      this.#leader = true
      this.#fresh = true
      this.#logger.info(
        { writtenUpToMs: this.#mark ? this.#mark.secondMs + 1000 : null },
        'traffic recorder writes now',
      )
    } catch (error) {
      this.#logger.warn({ err: error, key }, 'traffic lease: Redis failed')
    }
  }

  #demote(): void {
    this.#leader = false
    for (const followed of this.#followed) followed.follower.close()
    this.#followed.clear()
    this.#current = undefined
    this.#pending.clear()
    this.#cursors.clear()
    this.#mark = undefined
    this.#openFromMs = Number.NEGATIVE_INFINITY
  }

  #connect(): void {
    const state: Omit<Followed, 'follower'> = {
      worker: undefined,
      lastLineAt: Date.now(),
      startedAt: Date.now(),
      old: false,
    }
    const follower = new RingFollower({
      adminSocket: this.#options.adminSocket,
      ring: this.#options.ring,
      logger: this.#logger,
      handlers: {
        // Called from socket events, after `followed` below exists.
        onStart: (worker, dump) => {
          followed.worker = worker
          this.#resume(worker, dump)
          this.#backoffMs = 0
        },
        onLine: (line) => {
          followed.lastLineAt = Date.now()
          // At a reload the old worker logs its proxies stopping: the new one serves now.
          if (!followed.old && stoppingPattern.test(line)) this.#workerCheckDue = true
          if (followed.worker) this.#take(this.#cursorOf(followed.worker), line)
        },
        onEnd: (error) => this.#ended(followed, error),
      },
    })
    const followed: Followed = { ...state, follower }
    this.#followed.add(followed)
    this.#current = followed
    this.#connections++
  }

  /** A connection that never got through its dump (HAProxy hung) is closed and opened again. */
  #closeStuck(now: number): void {
    const current = this.#current
    if (!current || current.follower.live || now - current.startedAt < startTimeoutMs) return
    this.#logger.warn(
      { worker: current.worker?.key, waitedMs: now - current.startedAt },
      'traffic ring: no dump from HAProxy; reconnecting',
    )
    current.follower.close()
  }

  #ended(followed: Followed, error: AppError | undefined): void {
    this.#followed.delete(followed)
    if (followed.old && followed.worker) this.#cursors.delete(followed.worker.key)
    if (this.#current !== followed) return
    this.#current = undefined
    if (!this.#leader || !this.#running) return
    if (!error) {
      // HAProxy closed a quiet connection (`stats timeout`) or the worker is leaving: the
      // next connection resumes after the last line taken.
      this.#logger.debug({ worker: followed.worker?.key }, 'traffic ring connection closed; reconnecting')
      this.#reconnectAt = 0
      return
    }
    const { min, max } = this.#options.reconnectMs
    this.#backoffMs = Math.min(max, Math.max(min, this.#backoffMs * 2))
    this.#reconnectAt = Date.now() + this.#backoffMs
    this.#logger.warn(
      { err: error, worker: followed.worker?.key, retryInMs: this.#backoffMs },
      'traffic ring unreachable; retrying',
    )
  }

  /** After a reload the Runtime API answers from a new worker: follow it too. */
  async #checkWorker(): Promise<void> {
    const current = this.#current
    if (!current?.follower.live || !current.worker) return
    let answer: string
    try {
      answer = await adminCommand(this.#options.adminSocket, 'show info')
    } catch (error) {
      this.#logger.debug({ err: error }, 'traffic: "show info" failed (the ring connection will tell)')
      return
    }
    const worker = workerIdentity(answer)
    if (!worker || worker.key === current.worker.key || this.#current !== current) return
    this.#logger.info(
      { old: current.worker.key, new: worker.key },
      'traffic: HAProxy reloaded; following the new worker',
    )
    current.old = true
    current.lastLineAt = Date.now()
    this.#current = undefined
    this.#connect()
  }

  #closeQuietOldWorkers(now: number): void {
    for (const followed of this.#followed)
      if (followed.old && now - followed.lastLineAt >= this.#options.oldWorkerQuietMs) {
        this.#logger.debug(
          { worker: followed.worker?.key },
          'traffic: the old worker is quiet; closing its ring',
        )
        followed.follower.close()
        this.#followed.delete(followed)
        if (followed.worker) this.#cursors.delete(followed.worker.key)
      }
  }

  #cursorOf(worker: WorkerIdentity): Cursor {
    let cursor = this.#cursors.get(worker.key)
    if (!cursor) {
      cursor = { secondMs: Number.NEGATIVE_INFINITY, lines: [], starts: [] }
      this.#cursors.set(worker.key, cursor)
    }
    return cursor
  }

  /** What of a worker's ring dump is new: after our own last line, the written anchor, or by time. */
  #resume(worker: WorkerIdentity, dump: string[]): void {
    const own = this.#cursors.get(worker.key)
    const cursor = this.#cursorOf(worker)
    const written = this.#mark?.anchors[worker.key]
    let from = 0
    let skipUpToMs = Number.NEGATIVE_INFINITY
    if (own) {
      // A reconnect to the same worker: continue after the last line taken; not there means
      // the ring wrapped past it, so all of it is new.
      from = indexAfter(dump, own.lines) ?? 0
    } else if (written) {
      const after = indexAfter(dump, written)
      if (after !== undefined) from = after
      else if (this.#mark) skipUpToMs = this.#mark.secondMs
      if (after === undefined)
        this.#logger.warn(
          { worker: worker.key },
          'traffic: the written anchor is no longer in the ring; resuming by time',
        )
    } else if (this.#fresh && this.#mark) {
      // Taking over a worker nobody anchored (HAProxy restarted meanwhile): by time.
      skipUpToMs = this.#mark.secondMs
    }
    this.#fresh = false
    this.#logger.info(
      { worker: worker.key, ringLines: dump.length, resumeAt: from },
      'traffic: following HAProxy worker',
    )
    // What comes before `from` is accounted for: our own last lines (a reconnect), or the
    // written seconds' (a takeover).
    cursor.lines = tailOf(dump.slice(0, from))
    for (const line of dump.slice(from)) this.#take(cursor, line, skipUpToMs)
  }

  /** One ring line, in ring order: into its site's second. */
  #take(cursor: Cursor, line: string, skipUpToMs = Number.NEGATIVE_INFINITY): void {
    const request = parseTrafficLine(line)
    if (request) {
      const endSecondMs = Math.floor((request.atMs + request.totalMs) / 1000) * 1000
      const secondMs = Math.max(cursor.secondMs, endSecondMs, this.#openFromMs)
      if (secondMs > cursor.secondMs) {
        cursor.starts.push({ secondMs, anchor: [...cursor.lines] })
        cursor.secondMs = secondMs
      }
      const site = siteOfBackend(request.backend)
      if (site && endSecondMs > skipUpToMs) {
        const seconds = this.#pending.get(secondMs) ?? new Map()
        this.#pending.set(secondMs, seconds)
        const entry = seconds.get(site.key) ?? { site, tally: new SecondTally() }
        seconds.set(site.key, entry)
        entry.tally.add(request)
      }
    }
    remember(cursor, line)
  }

  /** Writes every second that is over (with its grace), when every ring is being followed. */
  async #writeDue(): Promise<void> {
    const current = this.#current
    if (!this.#leader || !current?.follower.live || this.#workerCheckDue) return
    if ([...this.#followed].some((followed) => !followed.follower.live)) return
    const upToMs = Math.floor((Date.now() - this.#options.graceMs - 1000) / 1000) * 1000
    if (this.#mark && upToMs <= this.#mark.secondMs) return
    this.#openFromMs = Math.max(this.#openFromMs, upToMs + 1000)
    const seconds = [...this.#pending.keys()].filter((second) => second <= upToMs).sort((a, b) => a - b)
    const entries: SecondWrite[] = []
    for (const secondMs of seconds)
      for (const { site, tally } of this.#pending.get(secondMs)?.values() ?? [])
        entries.push({
          site: site.key,
          secondMs,
          json: JSON.stringify(tally.toRecord(await this.#releasesOf(site, tally.servers()))),
        })
    const anchors: Record<string, string[]> = {}
    for (const followed of this.#followed) {
      const cursor = followed.worker && this.#cursors.get(followed.worker.key)
      if (followed.worker && cursor) anchors[followed.worker.key] = anchorAt(cursor, upToMs)
    }
    const result = await writeSeconds(
      this.#options.redis,
      this.#options.prefix,
      this.#token,
      upToMs,
      anchors,
      entries,
      {
        timeoutMs: recordTimeoutMs,
      },
    )
    switch (result) {
      case 'written':
        for (const secondMs of seconds) this.#pending.delete(secondMs)
        for (const cursor of this.#cursors.values())
          cursor.starts = cursor.starts.filter((s) => s.secondMs > upToMs)
        this.#mark = { secondMs: upToMs, anchors }
        return
      case 'lease-lost':
        this.#logger.error({}, 'traffic lease lost before a write: another recorder writes now')
        this.#demote()
        return
      case 'already-written':
        this.#logger.error({ upToMs }, 'traffic: another recorder already wrote these seconds; standing down')
        this.#demote()
        return
    }
  }

  async #releasesOf(site: TrafficSite, servers: string[]): Promise<Map<string, string>> {
    const releases = new Map<string, string>()
    for (const server of servers) {
      try {
        releases.set(
          server,
          (await this.#releaseOf(site.project, site.environment, server)) ?? unknownRelease,
        )
      } catch (error) {
        this.#logger.warn(
          { err: error, site: site.key, server },
          `traffic: release of ${server} unknown: ${errorMessage(error)}`,
        )
        releases.set(server, unknownRelease)
      }
    }
    return releases
  }
}

function remember(cursor: Cursor, line: string): void {
  cursor.lines.push(line)
  if (cursor.lines.length > anchorLength) cursor.lines.shift()
}

/** The ring lines that end the seconds up to `upToMs` in this worker's ring. */
function anchorAt(cursor: Cursor, upToMs: number): string[] {
  const next = cursor.starts.find((start) => start.secondMs > upToMs)
  return tailOf(next ? next.anchor : cursor.lines)
}
