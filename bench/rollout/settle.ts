import { machineCpu } from './cpu.ts'

/**
 * Waits until the machine is quiet: under `threshold` of its CPU busy over a 1 s window, at
 * most `limitMs`. Removing containers leaves the kernel tearing down their network
 * namespaces and cgroups for a while afterwards (system time with no process to show for
 * it), which would otherwise land on whichever variant runs next. Returns the wait and the
 * last reading.
 */
export async function settle(threshold = 0.2, limitMs = 90_000): Promise<{ ms: number; busy: number }> {
  const started = performance.now()
  for (;;) {
    const before = await machineCpu()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const after = await machineCpu()
    if (!before || !after) return { ms: 0, busy: Number.NaN }
    const busy = (after.busyMs - before.busyMs) / Math.max(1, after.totalMs - before.totalMs)
    const ms = performance.now() - started
    if (busy < threshold || ms > limitMs) return { ms, busy }
  }
}
