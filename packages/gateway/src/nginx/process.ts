import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { AppError, type Logger } from '@slipway/core'
import { assertPort } from '../names.ts'
import { sleep } from '../support/bounded.ts'
import { assertTargetPaths } from './files.ts'
import { type NginxTarget, nginxTargetAt, runNginx } from './target.ts'

export interface NginxProcessOptions {
  /** Folder for the config, pid, logs, temp files and `conf.d/` (created if missing). */
  dir: string
  /** 127.0.0.1 port of the default server (`/nginx-health`). */
  port: number
  binary?: string
  logger?: Logger
  /** Bound on start and stop. Default 15 s. */
  timeoutMs?: number
}

/** The main config of a private gateway nginx (the fleet's gateway has the same shape). */
export function renderMainConfig(target: NginxTarget, port: number): string {
  const dir = path.dirname(target.config)
  return [
    '# Written by @slipway/gateway NginxProcess. Sites live in conf.d/.',
    'worker_processes 1;',
    `pid ${target.pidFile};`,
    `error_log ${target.errorLog} warn;`,
    'events { worker_connections 4096; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
      (kind) => `  ${kind}_temp_path ${dir}/tmp/${kind.replace('client_', '')};`,
    ),
    '  server {',
    `    listen 127.0.0.1:${assertPort('port', port)};`,
    '    location = /nginx-health { return 200 "ok\\n"; }',
    '    location / { return 404 "no environment here\\n"; }',
    '  }',
    `  include ${target.sitesDir}/*.conf;`,
    '}',
    '',
  ].join('\n')
}

/**
 * A private nginx master under a folder, in the foreground of this process (tests start
 * their own to stay isolated). Stop it with `stop()`: it is signalled by its own pid only.
 */
export class NginxProcess {
  readonly target: NginxTarget
  readonly port: number
  readonly #child: ChildProcess
  readonly #exited: Promise<unknown>
  readonly #timeoutMs: number

  private constructor(target: NginxTarget, port: number, child: ChildProcess, timeoutMs: number) {
    this.target = target
    this.port = port
    this.#child = child
    this.#exited = once(child, 'exit')
    this.#timeoutMs = timeoutMs
  }

  get pid(): number {
    return this.#child.pid ?? 0
  }

  static async start(options: NginxProcessOptions): Promise<NginxProcess> {
    const target = nginxTargetAt(options.dir, options.binary)
    assertTargetPaths(target)
    const dir = path.dirname(target.config)
    await mkdir(target.sitesDir, { recursive: true })
    await mkdir(path.dirname(target.errorLog), { recursive: true })
    await mkdir(path.join(dir, 'tmp'), { recursive: true })
    // Workers run as an unprivileged user when the master is root: they must reach tmp/.
    await chmod(dir, 0o755)
    await writeFile(target.config, renderMainConfig(target, options.port))
    const test = await runNginx(target, ['-t', '-q', '-c', target.config])
    if (test.code !== 0)
      throw new AppError('VALIDATION_FAILED', `nginx rejects ${target.config}: ${test.output}`)
    const child = spawn(
      target.binary ?? 'nginx',
      ['-p', target.prefix, '-e', target.errorLog, '-c', target.config, '-g', 'daemon off;'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4096)
    })
    const nginx = new NginxProcess(target, options.port, child, options.timeoutMs ?? 15_000)
    const deadline = Date.now() + nginx.#timeoutMs
    while (!(await healthy(options.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await nginx.stop()
        throw new AppError(
          'DEPENDENCY_UNAVAILABLE',
          `nginx did not start on 127.0.0.1:${options.port}: ${stderr}`,
        )
      }
      await sleep(50)
    }
    options.logger?.info({ pid: child.pid, port: options.port, dir }, 'nginx started')
    return nginx
  }

  /** Graceful stop (SIGQUIT), then SIGKILL if it outlives the bound. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    this.#child.kill('SIGQUIT')
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), this.#timeoutMs)
    try {
      await this.#exited
    } finally {
      clearTimeout(timer)
    }
  }
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get(
      { host: '127.0.0.1', port, path: '/nginx-health', agent: false, timeout: 1000 },
      (response) => {
        response.resume()
        resolve(response.statusCode === 200)
      },
    )
    request.on('timeout', () => request.destroy())
    request.on('error', () => resolve(false))
  })
}
