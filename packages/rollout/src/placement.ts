/**
 * Spreads `replicas` evenly over `hosts`: every host gets floor(replicas / hosts) and the
 * remainder goes one each to the hosts that already run the most instances of the release
 * (fewest moves), ties broken by host order. Deterministic for the same input.
 */
export function placeReplicas(
  hosts: readonly string[],
  replicas: number,
  current: ReadonlyMap<string, number>,
): Record<string, number> {
  const placement: Record<string, number> = {}
  if (hosts.length === 0) return placement
  const base = Math.floor(replicas / hosts.length)
  const extra = replicas % hosts.length
  const ranked = hosts
    .map((host, index) => ({ host, index, running: current.get(host) ?? 0 }))
    .sort((a, b) => b.running - a.running || a.index - b.index)
  const lucky = new Set(ranked.slice(0, extra).map((entry) => entry.host))
  for (const host of hosts) placement[host] = base + (lucky.has(host) ? 1 : 0)
  return placement
}

/**
 * Round-robin over the hosts' lists: the first item of every host, then the second... so
 * that consecutive batches touch different hosts.
 */
export function interleave<T>(hosts: readonly string[], byHost: ReadonlyMap<string, readonly T[]>): T[] {
  const out: T[] = []
  const longest = Math.max(0, ...hosts.map((host) => byHost.get(host)?.length ?? 0))
  for (let round = 0; round < longest; round++) {
    for (const host of hosts) {
      const item = byHost.get(host)?.[round]
      if (item !== undefined) out.push(item)
    }
  }
  return out
}
