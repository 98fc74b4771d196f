import type { ServedInstance } from './ack.ts'

export interface UpstreamDecision {
  /** What the site's backend should hold, sorted by id. */
  instances: ServedInstance[]
  /** True when these are kept although their heartbeats stopped. */
  failStatic: boolean
}

interface RegistryView {
  /** Live entries. */
  entries: readonly ServedInstance[]
  /** `{host}-{port}` of entries that expired without being deregistered. */
  expired: readonly string[]
}

/** What the gateway needs of an instance (the weight only when it is not the default). */
function upstreamOf({ id, host, address, port, weight }: ServedInstance): ServedInstance {
  return weight === undefined || weight === 1
    ? { id, host, address, port }
    : { id, host, address, port, weight }
}

function byId(a: ServedInstance, b: ServedInstance): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : a.port - b.port
}

/**
 * "Fail static": the registry decides the upstream, except that heartbeats stopping for every
 * instance at once (workers down, Redis lost its keys' owners...) must not empty a site that
 * serves. When no entry is live, the instances served now that merely expired are kept; those
 * deregistered on purpose are not, so taking every instance out explicitly still empties it.
 */
export function decideUpstream(
  registry: RegistryView,
  served: readonly ServedInstance[] | undefined,
): UpstreamDecision {
  if (registry.entries.length > 0) {
    const instances = registry.entries.map(upstreamOf)
    return { instances: instances.sort(byId), failStatic: false }
  }
  const expired = new Set(registry.expired)
  const kept = (served ?? []).filter((instance) => expired.has(`${instance.host}-${instance.port}`))
  return {
    instances: kept.map(upstreamOf).sort(byId),
    failStatic: kept.length > 0,
  }
}
