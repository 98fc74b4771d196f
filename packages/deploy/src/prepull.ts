import { AppError, errorMessage } from '@slipway/core'
import type { RegistryAuth } from '@slipway/docker'
import type { DeployHost } from './types.ts'
import { mapLimit } from './util.ts'

export interface PullOutcome {
  host: string
  ms: number
  /** True when the host already had the image (nothing was transferred). */
  present: boolean
  error?: AppError
}

/**
 * Pulls `image` on every host in parallel (article 000: pulling does not disturb serving),
 * at most `concurrency` at once. Never throws: each host's outcome says how it went.
 */
export function prePull(
  hosts: readonly DeployHost[],
  image: string,
  options: { auth?: RegistryAuth; concurrency?: number; signal: AbortSignal; log?: (line: string) => void },
): Promise<PullOutcome[]> {
  return mapLimit(hosts, options.concurrency ?? 8, async (host): Promise<PullOutcome> => {
    const started = Date.now()
    try {
      if (await host.driver.hasImage(image, { signal: options.signal })) {
        return { host: host.name, ms: Date.now() - started, present: true }
      }
      await host.driver.pull(image, options.auth, { signal: options.signal })
      const ms = Date.now() - started
      options.log?.(`pulled on ${host.name} in ${(ms / 1000).toFixed(1)} s`)
      return { host: host.name, ms, present: false }
    } catch (error) {
      const code = error instanceof AppError ? error.code : 'PULL_FAILED'
      const message = errorMessage(error)
      const appError = new AppError(
        code,
        message.includes(host.name) ? message : `${host.name}: ${message}`,
        {
          details: { host: host.name },
          cause: error,
        },
      )
      options.log?.(`pull on ${host.name} failed: ${appError.message}`)
      return { host: host.name, ms: Date.now() - started, present: false, error: appError }
    }
  })
}
