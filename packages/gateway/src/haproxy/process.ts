import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { AppError, isAppError, type Logger } from '@slipway/core'
import { sleep } from '../support/bounded.ts'
import { checkConfig, type HaproxyTarget, haproxyStartArgs, haproxyTargetAt } from './layout.ts'
import { renderMainConfig } from './render.ts'
import { HaproxyRuntime } from './runtime.ts'

export interface HaproxyProcessOptions {
  /** The gateway folder (created if missing; keep it short: socket paths live in it). */
  dir: string
  /** 127.0.0.1 port of the gateway's own health frontend (`/gateway-health`). */
  port: number
  binary?: string
  logger?: Logger
  /** Bound on start and stop. Default 15 s. */
  timeoutMs?: number
}

/**
 * A private HAProxy (master-worker) over a gateway folder, the same layout and config as the
 * fleet's, for tests and e2e stacks. The master runs in the foreground as a child of this
 * process (the fleet's adds `-D`); `stop()` signals it by its own pid only.
 */
export class HaproxyProcess {
  readonly target: HaproxyTarget
  readonly port: number
  readonly #child: ChildProcess
  readonly #exited: Promise<unknown>
  readonly #timeoutMs: number

  private constructor(target: HaproxyTarget, port: number, child: ChildProcess, timeoutMs: number) {
    this.target = target
    this.port = port
    this.#child = child
    this.#exited = once(child, 'exit')
    this.#timeoutMs = timeoutMs
  }

  get dir(): string {
    return this.target.dir
  }

  /** The master's pid. */
  get pid(): number {
    return this.#child.pid ?? 0
  }

  static async start(options: HaproxyProcessOptions): Promise<HaproxyProcess> {
    const target = haproxyTargetAt(options.dir, options.binary)
    await mkdir(target.sitesDir, { recursive: true })
    await writeFile(target.config, renderMainConfig({ dir: target.dir, port: options.port }))
    const check = await checkConfig(target, target.sitesDir)
    if (check.code !== 0)
      throw new AppError('VALIDATION_FAILED', `haproxy rejects ${target.config}: ${check.output}`)
    const child = spawn(target.binary ?? 'haproxy', haproxyStartArgs(target), {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8192)
    })
    const haproxy = new HaproxyProcess(target, options.port, child, options.timeoutMs ?? 15_000)
    const runtime = new HaproxyRuntime(target, { timeoutMs: 1000 })
    const deadline = Date.now() + haproxy.#timeoutMs
    for (;;) {
      const probe = await healthy(options.port)
      const ready = probe === true ? await answers(runtime) : probe
      if (ready === true) break
      if (child.exitCode !== null || Date.now() > deadline) {
        await haproxy.stop()
        throw new AppError(
          'DEPENDENCY_UNAVAILABLE',
          `haproxy did not start on 127.0.0.1:${options.port}: ${stderr.trim() || `last check: ${ready}`}`,
        )
      }
      await sleep(50)
    }
    options.logger?.info({ pid: child.pid, port: options.port, dir: target.dir }, 'haproxy started')
    return haproxy
  }

  /** Hard stop (SIGTERM: the master ends its workers), then SIGKILL if it outlives the bound. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    this.#child.kill('SIGTERM')
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), this.#timeoutMs)
    try {
      await this.#exited
    } finally {
      clearTimeout(timer)
    }
  }
}

/** The worker's Runtime API and the master CLI (it listens once the worker is ready) answer. */
async function answers(runtime: HaproxyRuntime): Promise<true | string> {
  try {
    await runtime.workerPid()
    return (await runtime.processes()).workers.length > 0 || 'the master lists no worker yet'
  } catch (error) {
    // Not up yet (no socket, no answer, not ready): the caller retries until its deadline.
    if (isAppError(error) && (error.code === 'DEPENDENCY_UNAVAILABLE' || error.code === 'TIMEOUT'))
      return error.message
    throw error
  }
}

function healthy(port: number): Promise<true | string> {
  return new Promise((resolve) => {
    const request = http.get(
      { host: '127.0.0.1', port, path: '/gateway-health', agent: false, timeout: 1000 },
      (response) => {
        response.resume()
        resolve(response.statusCode === 200 || `/gateway-health answered ${response.statusCode}`)
      },
    )
    request.on('timeout', () => request.destroy())
    // Refused or reset while HAProxy starts: not healthy yet, and why (the caller asks again).
    request.on('error', (error) => resolve(error.message))
  })
}
