import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { AppError, type Logger } from '@slipway/core'
import { assertPort, siteKey } from '../names.ts'
import { sleep } from '../support/bounded.ts'
import {
  assertTargetPaths,
  errorsSince,
  fileSize,
  readOptional,
  removeQuietly,
  replaceFile,
  testConfigText,
  writeCandidate,
} from './files.ts'
import { type LeaseOptions, withLease } from './lease.ts'
import { type LiveConfig, probeConfig } from './probe.ts'
import type { RenderedSite } from './render.ts'
import { type NginxTarget, runNginx } from './target.ts'
import { childPids, holdsSocket, listeningInode } from './workers.ts'

export interface NginxApplierOptions {
  target: NginxTarget
  logger?: Logger
  /** A Redis lease taken around every change, when several processes may change this nginx. */
  lease?: LeaseOptions
  /** How long a reload may take to show on the config endpoint. Default 10 s. */
  confirmTimeoutMs?: number
}

export interface ApplyResult {
  version: string
  /** False when the same config was already live: nothing written, no reload. */
  changed: boolean
  /** From the reload signal to the new version answering, when there was a reload. */
  reloadMs?: number
  /**
   * The workers nginx ran before this reload (they finish their requests, then exit); absent
   * without a reload or where worker processes cannot be read (not Linux).
   */
  previous?: WorkerGeneration
}

/** The worker processes of one nginx master at one moment. */
export interface WorkerGeneration {
  master: number
  pids: number[]
}

/**
 * Puts rendered sites into one nginx safely: the candidate is tested with `nginx -t` on the
 * whole config before it replaces the live file, then nginx reloads gracefully and the new
 * version must answer on the site's config endpoint. A rejected config never reaches the
 * sites folder; a reload that fails puts the previous file back. Changes are serialised per
 * applier (one queue) and, with `lease`, across processes.
 */
export class NginxApplier {
  readonly target: NginxTarget
  readonly #logger: Logger | undefined
  readonly #lease: LeaseOptions | undefined
  readonly #confirmTimeoutMs: number
  #queue: Promise<unknown> = Promise.resolve()

  constructor(options: NginxApplierOptions) {
    assertTargetPaths(options.target)
    this.target = options.target
    this.#logger = options.logger
    this.#lease = options.lease
    this.#confirmTimeoutMs = options.confirmTimeoutMs ?? 10_000
  }

  apply(site: RenderedSite, options: { signal?: AbortSignal } = {}): Promise<ApplyResult> {
    return this.#serialised(options.signal, () => this.#apply(site, options.signal))
  }

  /** Takes a site out of nginx (its file removed, nginx reloaded, its port no longer ours). */
  removeSite(
    project: string,
    environment: string,
    listenPort: number,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const fileName = `${siteKey(project, environment)}.conf`
    assertPort('listenPort', listenPort)
    const name = `${project}/${environment}`
    return this.#serialised(options.signal, async () => {
      const file = path.join(this.target.sitesDir, fileName)
      const previous = await readOptional(file)
      if (previous === undefined) return
      await this.#test(fileName, undefined, name, options.signal)
      await replaceFile(file, undefined)
      await this.#reloadAndConfirm(
        file,
        previous,
        name,
        listenPort,
        (live) => live?.site !== name,
        options.signal,
      )
    })
  }

  /** `nginx -t` of the config as it is on disk. */
  async testCurrent(signal?: AbortSignal): Promise<void> {
    const run = await runNginx(this.target, ['-t', '-q', '-c', this.target.config], { signal })
    if (run.code !== 0)
      throw new AppError('VALIDATION_FAILED', `nginx rejects ${this.target.config}: ${run.output}`)
  }

  #serialised<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    const locked = this.#lease ? () => withLease(this.#lease as LeaseOptions, signal, work) : work
    const next = this.#queue.then(() => {
      if (signal?.aborted) throw new AppError('CANCELED', 'gateway change canceled', { cause: signal.reason })
      return locked()
    })
    this.#queue = next.catch(() => undefined)
    return next
  }

  async #apply(site: RenderedSite, signal: AbortSignal | undefined): Promise<ApplyResult> {
    const name = `${site.project}/${site.environment}`
    const file = path.join(this.target.sitesDir, site.fileName)
    const previous = await readOptional(file)
    const isNew = (live: LiveConfig | undefined) => live?.version === site.version
    if (previous === site.text && isNew(await probeConfig(site.listenPort))) {
      return { version: site.version, changed: false }
    }
    if (previous !== site.text) {
      const candidate = await writeCandidate(file, site.text)
      try {
        await this.#test(site.fileName, candidate, name, signal)
        await replaceFile(file, site.text)
      } finally {
        await removeQuietly(candidate)
      }
    }
    const reload = await this.#reloadAndConfirm(file, previous, name, site.listenPort, isNew, signal)
    this.#logger?.info(
      { site: name, version: site.version, instances: site.instanceIds, reloadMs: reload.ms },
      'gateway config live',
    )
    return { version: site.version, changed: true, reloadMs: reload.ms, previous: reload.previous }
  }

  async #test(fileName: string, candidate: string | undefined, name: string, signal?: AbortSignal) {
    const configDir = path.dirname(this.target.config)
    const testConfig = path.join(configDir, `.slipway-test-${process.pid}-${Date.now().toString(36)}.conf`)
    await writeFile(testConfig, await testConfigText(this.target, fileName, candidate))
    try {
      const run = await runNginx(this.target, ['-t', '-q', '-c', testConfig], { signal })
      if (run.code !== 0) {
        this.#logger?.error({ site: name, nginx: run.output }, 'nginx rejected the gateway config')
        throw new AppError('VALIDATION_FAILED', `nginx rejected the config of ${name}: ${run.output}`, {
          details: { site: name, nginx: run.output },
        })
      }
    } finally {
      await removeQuietly(testConfig)
    }
  }

  /**
   * SIGHUP to the master, then wait until the site answers as expected and no worker of the
   * previous generation still accepts on its port; undo on failure.
   */
  async #reloadAndConfirm(
    file: string,
    previous: string | undefined,
    name: string,
    port: number,
    done: (live: LiveConfig | undefined) => boolean,
    signal: AbortSignal | undefined,
  ): Promise<{ ms: number; previous?: WorkerGeneration }> {
    const logOffset = await fileSize(this.target.errorLog)
    const started = performance.now()
    const deadline = started + this.#confirmTimeoutMs
    let oldWorkers: number[] | undefined
    let master = 0
    try {
      master = await this.#masterPid()
      oldWorkers = await childPids(master)
      this.#signal(master)
      for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
        if (done(await probeConfig(port, { timeoutMs: 1000 }))) break
        const errors = await errorsSince(this.target.errorLog, logOffset)
        if (errors.length > 0)
          throw new AppError(
            'DEPENDENCY_UNAVAILABLE',
            `nginx failed to reload for ${name}: ${errors.join(' | ')}`,
            {
              details: { site: name, nginx: errors },
            },
          )
        if (performance.now() > deadline)
          throw new AppError(
            'TIMEOUT',
            `nginx did not serve the new config of ${name} within ${this.#confirmTimeoutMs} ms`,
            { details: { site: name } },
          )
        await sleep(wait, signal)
      }
    } catch (error) {
      await replaceFile(file, previous)
      await this.#masterPid()
        .then((master) => this.#signal(master))
        .catch(() => undefined)
      this.#logger?.error({ err: error, site: name }, 'gateway reload failed; previous site file restored')
      throw error
    }
    await this.#oldWorkersGone(oldWorkers, port, deadline, name, signal)
    const ms = Math.round(performance.now() - started)
    return { ms, previous: oldWorkers ? { master, pids: oldWorkers } : undefined }
  }

  /** Waits until no worker of the previous generation holds the site's listening socket. */
  async #oldWorkersGone(
    workers: number[] | undefined,
    port: number,
    deadline: number,
    name: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const inode = await listeningInode(port)
    if (!workers?.length || !inode) return
    for (;;) {
      const holding = await Promise.all(workers.map((pid) => holdsSocket(pid, inode)))
      if (!holding.includes(true)) return
      if (performance.now() > deadline) {
        this.#logger?.warn(
          { site: name, workers },
          'old nginx workers still accept connections after the reload',
        )
        return
      }
      await sleep(5, signal)
    }
  }

  async #masterPid(): Promise<number> {
    const text = await readFile(this.target.pidFile, 'utf8').catch(() => '')
    const pid = Number.parseInt(text.trim(), 10)
    if (!Number.isInteger(pid) || pid <= 1)
      throw new AppError('DEPENDENCY_UNAVAILABLE', `nginx is not running (no pid in ${this.target.pidFile})`)
    return pid
  }

  #signal(pid: number): void {
    try {
      process.kill(pid, 'SIGHUP')
    } catch (error) {
      throw new AppError(
        'DEPENDENCY_UNAVAILABLE',
        `nginx is not running (pid ${pid}): ${(error as Error).message}`,
        {
          cause: error,
        },
      )
    }
  }
}
