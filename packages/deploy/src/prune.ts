import { errorMessage } from '@slipway/core'
import { labelKeys } from './labels.ts'
import type { DeployHost } from './types.ts'
import { mapLimit, within } from './util.ts'

export interface PruneRequest {
  hosts: readonly DeployHost[]
  /** Images Slipway may remove: every release image of the project (by digest). */
  images: readonly string[]
  /** Images to keep whatever happens (e.g. the last N releases). */
  keep: readonly string[]
  signal: AbortSignal
  log?: (line: string) => void
}

export interface PruneResult {
  removed: { host: string; image: string }[]
  /** Candidates left because a container (running or not) still uses them. */
  inUse: { host: string; image: string }[]
  errors: { host: string; image?: string; error: string }[]
}

/**
 * Removes, on every host, the images of `images` that are not in `keep` and that no
 * container uses (running or stopped). Hosts are handled in parallel; a host that fails is
 * reported and the others go on.
 */
export async function pruneImages(request: PruneRequest): Promise<PruneResult> {
  const keep = new Set(request.keep)
  const candidates = [...new Set(request.images)].filter((image) => !keep.has(image))
  const result: PruneResult = { removed: [], inUse: [], errors: [] }
  await mapLimit(request.hosts, 8, async (host) => {
    try {
      const containers = await host.driver.list({}, { all: true, signal: within(15_000, request.signal) })
      const used = new Set(containers.flatMap((c) => [c.image, c.labels[labelKeys.image] ?? '']))
      for (const image of candidates) {
        if (used.has(image)) {
          result.inUse.push({ host: host.name, image })
          continue
        }
        try {
          if (!(await host.driver.hasImage(image, { signal: request.signal }))) continue
          await host.driver.removeImage(image, { signal: request.signal })
          result.removed.push({ host: host.name, image })
          request.log?.(`removed ${image} from ${host.name}`)
        } catch (error) {
          result.errors.push({ host: host.name, image, error: errorMessage(error) })
        }
      }
    } catch (error) {
      result.errors.push({ host: host.name, error: errorMessage(error) })
      request.log?.(`could not prune ${host.name}: ${errorMessage(error)}`)
    }
  })
  return result
}
