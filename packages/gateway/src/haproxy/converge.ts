import { canonicalAddress, type SiteServer } from './render.ts'
import { adminDrain, adminMaint, type ServerState } from './runtime.ts'

/** One Runtime API change to a backend. */
export type ServerStep =
  | { kind: 'add'; server: SiteServer }
  | { kind: 'address'; server: SiteServer }
  | { kind: 'weight'; name: string; weight: number }
  | { kind: 'ready'; name: string }
  | { kind: 'drain'; name: string }

/**
 * The Runtime API steps that make a backend's live servers equal to `wanted` (pure): new
 * servers are added (then enabled) and every wanted one is ready before any other is set to
 * drain, so a swap never leaves the backend without a server. Servers already draining or in
 * maintenance stay as they are (the drain follow-up deletes them).
 */
export function planServers(wanted: readonly SiteServer[], live: readonly ServerState[]): ServerStep[] {
  const byName = new Map(live.map((server) => [server.name, server]))
  const names = new Set(wanted.map((server) => server.id))
  const steps: ServerStep[] = []
  for (const server of wanted) {
    const current = byName.get(server.id)
    if (!current) {
      steps.push({ kind: 'add', server })
      continue
    }
    if (canonicalAddress(current.address) !== server.address || current.port !== server.port)
      steps.push({ kind: 'address', server })
    if (current.weight !== (server.weight ?? 1))
      steps.push({ kind: 'weight', name: server.id, weight: server.weight ?? 1 })
    if (current.admin & (adminMaint | adminDrain)) steps.push({ kind: 'ready', name: server.id })
  }
  for (const server of live) {
    if (!names.has(server.name) && !(server.admin & (adminMaint | adminDrain)))
      steps.push({ kind: 'drain', name: server.name })
  }
  return steps
}

/** Whether the live servers are exactly `wanted`, all ready, the others out of rotation. */
export function mismatches(wanted: readonly SiteServer[], live: readonly ServerState[]): string[] {
  const byName = new Map(live.map((server) => [server.name, server]))
  const names = new Set(wanted.map((server) => server.id))
  const problems: string[] = []
  for (const server of wanted) {
    const current = byName.get(server.id)
    if (!current) problems.push(`${server.id} is missing`)
    else if (canonicalAddress(current.address) !== server.address || current.port !== server.port)
      problems.push(`${server.id} is at ${current.address}:${current.port}`)
    else if (current.weight !== (server.weight ?? 1))
      problems.push(`${server.id} has weight ${current.weight}, not ${server.weight ?? 1}`)
    else if (current.admin !== 0) problems.push(`${server.id} is not ready (admin state ${current.admin})`)
  }
  for (const server of live)
    if (!names.has(server.name) && server.admin === 0) problems.push(`${server.name} still takes requests`)
  return problems
}

/** Servers of the backend that are out of `wanted` (draining or in maintenance). */
export function leaving(wanted: readonly SiteServer[], live: readonly ServerState[]): string[] {
  const names = new Set(wanted.map((server) => server.id))
  return live.filter((server) => !names.has(server.name)).map((server) => server.name)
}
