import { readFile } from 'node:fs/promises'

/** Busy and total CPU time of the machine so far (jiffies, from /proc/stat). */
async function cpuTimes(): Promise<{ busy: number; total: number } | undefined> {
  const text = await readFile('/proc/stat', 'utf8').catch(() => '')
  const fields = text.split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? []
  if (fields.length < 5) return undefined
  const total = fields.reduce((sum, v) => sum + v, 0)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  return { busy: total - idle, total }
}

/**
 * Waits until the machine is quiet: under `threshold` of its CPU busy over a 1 s window, at
 * most `limitMs`. Removing containers leaves the kernel tearing down their network
 * namespaces for many seconds afterwards (system time with no process to show for it), which
 * would otherwise land on whichever variant runs next. Returns the wait and the last reading.
 */
export async function settle(threshold = 0.2, limitMs = 90_000): Promise<{ ms: number; busy: number }> {
  const started = performance.now()
  for (;;) {
    const before = await cpuTimes()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const after = await cpuTimes()
    if (!before || !after) return { ms: 0, busy: Number.NaN }
    const busy = (after.busy - before.busy) / Math.max(1, after.total - before.total)
    const ms = performance.now() - started
    if (busy < threshold || ms > limitMs) return { ms, busy }
  }
}
