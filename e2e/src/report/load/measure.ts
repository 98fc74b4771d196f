import { readdir, readFile, readlink } from 'node:fs/promises'
import type { Redis } from 'ioredis'

/** Epoch milliseconds with sub-millisecond precision. */
export const now = () => performance.timeOrigin + performance.now()

export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

export const ms = (value: number) => Math.round(value)
const mib = (value: number) => Math.round(value * 10) / 10

/** The pids of this process's children started from `apps/<app>` (a stack's API or workers). */
export async function appPids(app: 'api' | 'worker'): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8')
      // Fields after the command name (which may hold spaces): state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid !== process.pid) continue
      if ((await readlink(`/proc/${entry}/cwd`)).endsWith(`/apps/${app}`)) pids.push(Number(entry))
    } catch (error) {
      // The process ended between the listing and the read.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
  return pids
}

/** Resident memory of a process in MiB (VmRSS of /proc/<pid>/status). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1])
  return kib / 1024
}

/** CPU seconds (user + system) a process used so far (clock ticks of 1/100 s). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Jobs of each BullMQ queue of the stack: waiting (incl. prioritized and paused), active, delayed. */
export async function queueLengths(
  redis: Redis,
  prefix: string,
): Promise<Record<string, { waiting: number; active: number; delayed: number }>> {
  const names = ['pipelines', 'stages', 'notifications', 'maintenance']
  const multi = redis.multi()
  for (const name of names) {
    const key = `${prefix}:${name}`
    multi.llen(`${key}:wait`).zcard(`${key}:prioritized`).llen(`${key}:paused`)
    multi.llen(`${key}:active`).zcard(`${key}:delayed`)
  }
  const replies = ((await multi.exec()) ?? []).map(([error, value]) => {
    if (error) throw error
    return Number(value)
  })
  return Object.fromEntries(
    names.map((name, i) => {
      const [wait = 0, prioritized = 0, paused = 0, active = 0, delayed = 0] = replies.slice(i * 5, i * 5 + 5)
      return [name, { waiting: wait + prioritized + paused, active, delayed }]
    }),
  )
}

export interface Sample<T> {
  at: number
  value: T
}

/** Calls `read` every `everyMs` until stopped; a failed read is kept as its error. */
export function sampleEvery<T>(everyMs: number, read: () => Promise<T>) {
  const samples: Sample<T>[] = []
  const errors: string[] = []
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const at = now()
      try {
        samples.push({ at, value: await read() })
      } catch (error) {
        errors.push(String(error))
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, at + everyMs - now())))
    }
  })()
  return {
    samples,
    async stop(): Promise<{ samples: Sample<T>[]; errors: string[] }> {
      stopped = true
      await loop
      return { samples, errors }
    },
  }
}

/**
 * Memory of one process over a run: first, last and largest sample, and the growth over the
 * last `windowMs` (last sample minus the first sample inside that window).
 */
export function memoryFigures(samples: readonly Sample<number>[], windowMs: number) {
  const first = samples[0]
  const last = samples.at(-1)
  if (!first || !last) throw new Error('no memory samples')
  const windowStart = samples.find((s) => s.at >= last.at - windowMs) ?? first
  return {
    first: mib(first.value),
    last: mib(last.value),
    max: mib(Math.max(...samples.map((s) => s.value))),
    growth: mib(last.value - windowStart.value),
    windowSeconds: Math.round((last.at - windowStart.at) / 1000),
  }
}
