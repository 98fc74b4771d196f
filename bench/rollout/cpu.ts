import { readFile } from 'node:fs/promises'
import { cpus } from 'node:os'

/** Milliseconds per /proc/stat tick (USER_HZ is 100 on Linux). */
const tickMs = 10

/** Busy and total CPU time of the whole machine so far, in ms (from /proc/stat). */
export async function machineCpu(): Promise<{ busyMs: number; totalMs: number } | undefined> {
  const text = await readFile('/proc/stat', 'utf8').catch(() => '')
  const fields = text.split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? []
  if (fields.length < 5) return undefined
  const total = fields.reduce((sum, v) => sum + v, 0)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  return { busyMs: (total - idle) * tickMs, totalMs: total * tickMs }
}

/** What some work cost: its wall time and the CPU time it (and everything else) used meanwhile. */
export interface Cost {
  ms: number
  /** CPU time the whole machine spent meanwhile (every core, every process, the kernel). */
  machineCpuMs: number
  /** CPU time of this process (Slipway's rollout and gateway agent run in it) meanwhile. */
  ownCpuMs: number
}

/** Runs `work` and measures its cost. */
export async function metered<T>(work: () => Promise<T>): Promise<{ value: T; cost: Cost }> {
  const before = await machineCpu()
  const own = process.cpuUsage()
  const t = performance.now()
  const value = await work()
  const ms = performance.now() - t
  const ownUsage = process.cpuUsage(own)
  const after = await machineCpu()
  const machineCpuMs = before && after ? after.busyMs - before.busyMs : Number.NaN
  return { value, cost: { ms, machineCpuMs, ownCpuMs: (ownUsage.user + ownUsage.system) / 1000 } }
}

/** The machine's cores: the CPU time it has per second of wall time. */
export const cores = cpus().length
