/** Runs `count` tasks, `concurrency` at a time; each task's latency in ms, and the wall time. */
export async function runConcurrent(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = new Array(count)
  let next = 0
  const started = performance.now()
  const lane = async () => {
    while (next < count) {
      const index = next++
      const t0 = performance.now()
      await task(index)
      latencies[index] = performance.now() - t0
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane))
  return { latencies, wallMs: performance.now() - started }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

export interface Row {
  what: string
  n: number
  p50: number
  p99: number
  /** Requests (or pages) per second; undefined when measured one at a time. */
  perSecond?: number
  note?: string
}

export function row(what: string, latencies: number[], wallMs?: number, note?: string): Row {
  return {
    what,
    n: latencies.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    perSecond: wallMs === undefined ? undefined : (latencies.length / wallMs) * 1000,
    note,
  }
}

/** A fixed-width table, Markdown-compatible. */
export function table(title: string, rows: Row[]): string {
  const cells = rows.map((r) => [
    r.what,
    String(r.n),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.perSecond === undefined ? '' : r.perSecond.toFixed(0),
    r.note ?? '',
  ])
  const header = ['', 'n', 'p50 ms', 'p99 ms', 'per s', '']
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]?.length ?? 0)))
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i] ?? 0)).join(' | ')} |`
  return [
    `\n${title}`,
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...cells.map(line),
  ].join('\n')
}
