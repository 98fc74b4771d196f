import type { DiscoveryEntry } from '@slipway/contracts'

/** The release a site's server (an instance id) runs; undefined when unknown. */
export type ReleaseOf = (project: string, environment: string, server: string) => Promise<string | undefined>

export interface RegistryReleaseOfOptions {
  /** How long a site's registry listing is reused before an unknown id asks again. Default 2 s. */
  cacheMs?: number
  /** How many instance ids to remember (oldest forgotten first). Default 20,000. */
  remember?: number
}

/**
 * `releaseOf` over the discovery registry. Instance ids are never reused, so an id seen once
 * keeps its release: a drained server that left the registry but still logs its last
 * requests is still known. An id not seen yet lists the site again, at most every `cacheMs`.
 */
export function registryReleaseOf(
  registry: { list(project: string, environment: string): Promise<DiscoveryEntry[]> },
  options: RegistryReleaseOfOptions = {},
): ReleaseOf {
  const cacheMs = options.cacheMs ?? 2000
  const remember = options.remember ?? 20_000
  const known = new Map<string, string>()
  const listedAt = new Map<string, number>()
  const listing = new Map<string, Promise<void>>()

  const learn = (site: string, entries: DiscoveryEntry[]) => {
    for (const entry of entries) {
      const key = `${site}/${entry.id}`
      known.delete(key)
      known.set(key, entry.release)
    }
    while (known.size > remember) {
      const oldest = known.keys().next().value
      if (oldest === undefined) break
      known.delete(oldest)
    }
  }

  return async (project, environment, server) => {
    const site = `${project}_${environment}`
    const key = `${site}/${server}`
    const seen = known.get(key)
    if (seen !== undefined) return seen
    if (Date.now() - (listedAt.get(site) ?? 0) >= cacheMs) {
      let pending = listing.get(site)
      if (!pending) {
        // Rejections reach every caller awaiting this listing (the recorder logs them).
        pending = registry
          .list(project, environment)
          .then((entries) => learn(site, entries))
          .finally(() => {
            listedAt.set(site, Date.now())
            listing.delete(site)
          })
        listing.set(site, pending)
      }
      await pending
    }
    return known.get(key)
  }
}
