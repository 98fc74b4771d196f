import type { Instance } from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import type { ContainerInfo } from '@slipway/docker'
import { instanceFromContainer, siteLabels } from './labels.ts'
import type { DeployHost } from './types.ts'
import { within } from './util.ts'

/** What one host runs for a site, read from container labels. */
export interface HostInventory {
  host: string
  /** Set when the host could not be asked (down, timed out). */
  error?: AppError
  /** Running instances of the site. */
  running: Instance[]
  /** Containers of the site that do not serve: exited, dead, restarting, or unlabelled. */
  broken: ContainerInfo[]
}

/** Default bound for asking one host what it runs. */
const discoverTimeoutMs = 10_000

/**
 * Lists the site's containers on every host in parallel; a host that does not answer within
 * `timeoutMs` is reported with its error instead of holding up the others.
 */
export function discoverSite(
  hosts: readonly DeployHost[],
  project: string,
  environment: string,
  signal: AbortSignal,
  timeoutMs = discoverTimeoutMs,
): Promise<HostInventory[]> {
  return Promise.all(
    hosts.map(async (host): Promise<HostInventory> => {
      try {
        const containers = await host.driver.list(siteLabels(project, environment), {
          all: true,
          signal: within(timeoutMs, signal),
        })
        const running: Instance[] = []
        const broken: ContainerInfo[] = []
        for (const container of containers) {
          const instance = container.state === 'running' ? instanceFromContainer(host, container) : undefined
          if (instance) running.push(instance)
          else broken.push(container)
        }
        running.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        return { host: host.name, running, broken }
      } catch (error) {
        const code = error instanceof AppError ? error.code : 'HOST_UNREACHABLE'
        const message = errorMessage(error)
        const appError = new AppError(
          code,
          message.includes(host.name) ? message : `Docker host ${host.name}: ${message}`,
          {
            details: { host: host.name },
            cause: error,
          },
        )
        return { host: host.name, error: appError, running: [], broken: [] }
      }
    }),
  )
}
