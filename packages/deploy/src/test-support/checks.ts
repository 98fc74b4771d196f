import type { Instance } from '@slipway/contracts'
import type { DockerHost } from '@slipway/docker'
import { labelKeys } from '../labels.ts'

/** Running containers of a site on a host, as `release` labels, sorted. */
export async function releasesOn(host: DockerHost, project: string, environment: string): Promise<string[]> {
  const containers = await host.list(
    { [labelKeys.project]: project, [labelKeys.environment]: environment },
    { all: true },
  )
  return containers.map((c) => `${c.state}:${c.labels[labelKeys.release]}`).sort()
}

export function countByHost(instances: readonly Instance[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const instance of instances) counts[instance.host] = (counts[instance.host] ?? 0) + 1
  return counts
}

/** Polls `check` every 50 ms until it returns a truthy value, or throws after `ms`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The version a demo response names ("demo 1.1.0 ENVT=..."). */
export function versionOf(body: string): string | undefined {
  return /^demo (\S+)/.exec(body)?.[1]
}
