import { execFile } from 'node:child_process'
import path from 'node:path'
import { AppError } from '@slipway/core'

/** One nginx the gateway writes sites into. Every path absolute. */
export interface NginxTarget {
  /** `-p`: the prefix folder. */
  prefix: string
  /** `-c`: the main config; it must contain `include <sitesDir>/*.conf;`. */
  config: string
  /** The master's pid file (the `pid` directive of the main config). */
  pidFile: string
  /** Where site files live. */
  sitesDir: string
  /** `-e`: so `nginx -t` never touches the system's log folder. */
  errorLog: string
  /** The nginx binary (default "nginx" on PATH). */
  binary?: string
}

/**
 * The layout docker/fleet.sh and NginxProcess use: `<dir>/nginx.conf`, `<dir>/nginx.pid`,
 * `<dir>/conf.d/*.conf`, `<dir>/logs/error.log` (the fleet's GATEWAY_DIR).
 */
export function nginxTargetAt(dir: string, binary?: string): NginxTarget {
  const root = path.resolve(dir)
  return {
    prefix: `${root}/`,
    config: path.join(root, 'nginx.conf'),
    pidFile: path.join(root, 'nginx.pid'),
    sitesDir: path.join(root, 'conf.d'),
    errorLog: path.join(root, 'logs', 'error.log'),
    binary,
  }
}

export interface NginxRun {
  code: number
  output: string
}

/** Runs nginx with argument arrays (never a shell), bounded in time; never throws on exit code. */
export function runNginx(
  target: NginxTarget,
  args: string[],
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<NginxRun> {
  const binary = target.binary ?? 'nginx'
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      ['-p', target.prefix, '-e', target.errorLog, ...args],
      { timeout: options.timeoutMs ?? 15_000, signal: options.signal, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim()
        if (!error) return resolve({ code: 0, output })
        const failure = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean }
        if (failure.name === 'AbortError')
          return reject(new AppError('CANCELED', `nginx ${args.join(' ')}: canceled`, { cause: error }))
        if (failure.killed)
          return reject(
            new AppError('TIMEOUT', `nginx ${args.join(' ')}: no answer in time`, { cause: error }),
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
