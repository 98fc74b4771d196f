import type { BatchReport } from '@slipway/deploy'
import type { NetworkMode } from '@slipway/docker'
import type { RawBatch } from './baselines.ts'
import { type Cost, cores } from './cpu.ts'

export interface Row {
  n: number
  network: NetworkMode
  batchSize: number
  batches: number
  slipway: Cost
  pullMs: number
  raw: RawBatch
  lowerMs: number
  articleMs: number
  requestsA: number
  failedA: number
  requestsC: number
  failedC: number
  batchReports: BatchReport[]
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const x = (ratio: number) => `${ratio.toFixed(2)}x`

/** The benchmark's table, in Markdown. */
export function renderTable(rows: readonly Row[]): string {
  const lines = [
    '| N | network | batches | (a) Slipway | (b) lower bound = max pull + batches x (start+healthy) | (a)/(b) | (c) article loop | (c)/(a) | (d) failed requests (a) | (d) failed requests (c) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    lines.push(
      `| ${r.n} | ${r.network} | ${r.batches} x ${r.batchSize} | ${s(r.slipway.ms)} | ${s(r.lowerMs)} = ${s(r.pullMs)} + ${r.batches} x ${s(r.raw.ms)} | ${x(r.slipway.ms / r.lowerMs)} | ${s(r.articleMs)} | ${x(r.articleMs / r.slipway.ms)} | ${r.failedA} of ${r.requestsA} | ${r.failedC} of ${r.requestsC} |`,
    )
  }
  const detail = rows.map((r) => {
    const rollout = r.batchReports.filter((b) => b.phase === 'rollout')
    const healthy = rollout.map((b) => b.healthyMs)
    const mean = healthy.reduce((sum, v) => sum + v, 0) / Math.max(1, healthy.length)
    const first = rollout[0]?.atMs ?? 0
    const last = rollout.at(-1)
    const tail = last
      ? ` The last batch was healthy at ${s(last.atMs + last.healthyMs)}, in the gateway at ${s(last.atMs + (last.servingMs ?? 0))}, its old instances drained, stopped and removed at ${s(last.atMs + (last.doneMs ?? 0))}.`
      : ''
    const { slipway, raw } = r
    const replaceCpuMs = r.batches * (raw.cpuMs + raw.stopCpuMs)
    const cpu =
      ` CPU: during (a) the machine was ${((100 * slipway.machineCpuMs) / (slipway.ms * cores)).toFixed(0)}% busy (${s(slipway.machineCpuMs)} of ${s(slipway.ms * cores)} on ${cores} cores), ${s(slipway.ownCpuMs)} of it in the process running the rollout and the gateway agent.` +
      ` Raw, a batch took ${s(raw.cpuMs)} of CPU to start and ${s(raw.stopCpuMs)} to stop and remove: starting and stopping ${r.batches} batches needs ${s(replaceCpuMs)} of CPU, at least ${s(replaceCpuMs / cores)} on ${cores} cores.`
    return `- N=${r.n}, ${r.network} network: the first batch began ${s(first)} after the call (discovery + pre-pull); a batch took ${s(mean)} on average from its start to healthy (raw: ${s(raw.ms)}).${tail}${cpu}`
  })
  return [...lines, '', ...detail].join('\n')
}

const start = '<!-- bench:rollout:start -->'
const end = '<!-- bench:rollout:end -->'

/** Replaces the rollout section of docs/PERFORMANCE.md (between its markers) with `table`. */
export function writeSection(current: string, table: string, date: string): string {
  const section = `${start}\nMeasured ${date} with \`pnpm --filter @slipway/bench rollout --write\`:\n\n${table}\n${end}`
  const from = current.indexOf(start)
  const to = current.indexOf(end)
  if (from >= 0 && to > from) return current.slice(0, from) + section + current.slice(to + end.length)
  return `${current.trimEnd()}\n\n${section}\n`
}
