import { execFile } from 'node:child_process'
import path from 'node:path'
import { AppError } from '@slipway/core'

/**
 * One gateway folder (docker/fleet.sh and HaproxyProcess use the same layout):
 *
 *   DIR/haproxy.cfg    the main config (renderMainConfig)
 *   DIR/sites/*.cfg    one file per site, written by the agent
 *   DIR/haproxy.pid    the master's pid
 *   DIR/admin.sock     the Runtime API (level admin, expose-fd listeners)
 *   DIR/master.sock    the master CLI (`reload`, `show proc`, `@!<pid> <command>`)
 *   DIR/cookie.key     the sticky cookies' secret, made by the first agent that needs it
 *
 * started as `haproxy -W -D -f DIR/haproxy.cfg -f DIR/sites -p DIR/haproxy.pid -S DIR/master.sock`.
 */
export interface HaproxyTarget {
  dir: string
  config: string
  sitesDir: string
  pidFile: string
  adminSocket: string
  masterSocket: string
  /** The haproxy binary (default "haproxy" on PATH). */
  binary?: string
}

const safePath = /^\/[A-Za-z0-9_./-]*$/
/** A unix socket path must fit `sun_path` (108 bytes on Linux), with room to spare. */
const maxSocketPath = 100

export function haproxyTargetAt(dir: string, binary?: string): HaproxyTarget {
  const root = path.resolve(dir)
  const target = {
    dir: root,
    config: path.join(root, 'haproxy.cfg'),
    sitesDir: path.join(root, 'sites'),
    pidFile: path.join(root, 'haproxy.pid'),
    adminSocket: path.join(root, 'admin.sock'),
    masterSocket: path.join(root, 'master.sock'),
    binary,
  }
  if (!safePath.test(root))
    throw new AppError(
      'VALIDATION_FAILED',
      `gateway folder ${JSON.stringify(dir)} is invalid: plain path only`,
      {
        details: { field: 'dir' },
      },
    )
  if (Buffer.byteLength(target.masterSocket) > maxSocketPath)
    throw new AppError(
      'VALIDATION_FAILED',
      `gateway folder ${root} is too long: its socket paths must stay under ${maxSocketPath} bytes`,
      { details: { field: 'dir' } },
    )
  return target
}

/** The arguments that start a gateway folder's HAProxy (add `-D` to run it as a daemon). */
export function haproxyStartArgs(target: HaproxyTarget): string[] {
  return ['-W', '-f', target.config, '-f', target.sitesDir, '-p', target.pidFile, '-S', target.masterSocket]
}

export interface HaproxyRun {
  code: number
  output: string
}

/** Runs haproxy with argument arrays (never a shell), bounded in time; never throws on exit code. */
export function runHaproxy(
  target: HaproxyTarget,
  args: string[],
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<HaproxyRun> {
  const binary = target.binary ?? 'haproxy'
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: options.timeoutMs ?? 15_000, signal: options.signal, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim()
        if (!error) return resolve({ code: 0, output })
        const failure = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean }
        if (failure.name === 'AbortError')
          return reject(new AppError('CANCELED', `haproxy ${args.join(' ')}: canceled`, { cause: error }))
        if (failure.killed)
          return reject(
            new AppError('TIMEOUT', `haproxy ${args.join(' ')}: no answer in time`, { cause: error }),
          )
        if (typeof failure.code === 'number') return resolve({ code: failure.code, output })
        reject(
          new AppError('DEPENDENCY_UNAVAILABLE', `cannot run ${binary}: ${failure.message}`, {
            cause: error,
          }),
        )
      },
    )
  })
}

/**
 * `haproxy -c` of the main config with the site files of `sitesDir`. Not `-q`: it hides the
 * alerts too. `output` keeps the `[ALERT]` lines (all of it when there is none).
 */
export async function checkConfig(
  target: HaproxyTarget,
  sitesDir: string,
  signal?: AbortSignal,
): Promise<HaproxyRun> {
  const run = await runHaproxy(target, ['-c', '-f', target.config, '-f', sitesDir], { signal })
  const alerts = run.output.split('\n').filter((line) => line.includes('[ALERT]'))
  return { code: run.code, output: alerts.length > 0 ? alerts.join('\n') : run.output }
}
