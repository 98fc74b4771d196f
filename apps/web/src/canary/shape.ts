import type { CanaryFigures, CanaryState, Stage } from '@slipway/contracts'
import { chartBox, niceCeiling } from '../traffic/shape.ts'

/** Pure: a canary's state as the pipeline page says and draws it. */

const livePhases = new Set<CanaryState['phase']>(['starting', 'judging', 'waiting'])

/** The canary has not ended: it starts, judges a step or waits for a person. */
export function canaryIsLive(state: CanaryState): boolean {
  return livePhases.has(state.phase)
}

/** Where the canary stands, in words: "step 2 of 3: 25% of requests to the new release". */
export function canaryHeadline(state: CanaryState): string {
  const count = state.plan.steps.length
  const weight = state.plan.steps[state.step]?.weight ?? state.weight
  switch (state.phase) {
    case 'starting':
      return 'starting: one instance of the new release is joining the live ones'
    case 'judging':
      return `step ${state.step + 1} of ${count}: ${weight}% of requests to the new release`
    case 'waiting':
      return `step ${state.step + 1} of ${count} passed at ${weight}%: waiting for a person`
    case 'promoted':
      return 'promoted: every step passed'
    case 'rolled-back':
      return `rolled back: ${state.reason ?? 'no reason was recorded'}`
  }
}

/** The gateway's weights now, in words. */
export function weightsText(state: CanaryState): string {
  if (state.phase === 'rolled-back') return 'the new instance is out; the old release serves alone'
  if (state.phase === 'starting' && state.weights.newer === 0)
    return 'the new instance is not in the gateway yet'
  return `new instance ${state.weights.newer}, each old instance ${state.weights.older}`
}

/** Errors over requests, or null before any request. */
export function errorRate(figures: CanaryFigures): number | null {
  return figures.requests > 0 ? figures.errors / figures.requests : null
}

/** 0.0123 -> "1.23%"; null -> "—". */
export function percentText(rate: number | null): string {
  if (rate === null) return '—'
  const percent = rate * 100
  if (percent === 0) return '0%'
  return `${percent < 0.1 ? percent.toPrecision(1) : Number(percent.toFixed(2))}%`
}

/** A latency in ms or s; null -> "—". */
export function msText(value: number | null): string {
  if (value === null) return '—'
  return value >= 1000
    ? `${(value / 1000).toFixed(2)} s`
    : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`
}

type StepStatus = 'pending' | 'judging' | 'passed' | 'waiting' | 'failed' | 'rolled-back' | 'not run'

export interface StepRow {
  /** 1-based. */
  number: number
  weight: number
  holdSeconds: number
  holdRequests: number
  manual: boolean
  status: StepStatus
  /** The verdict's (or, while it holds, the judge's) reason. */
  reason: string | null
  /** What the gateway measured of each version over the step (so far, while judged). */
  newer: CanaryFigures | null
  older: CanaryFigures | null
  elapsedMs: number | null
}

/** The plan's steps with what became of each: the verdict and figures, or where the canary stands. */
export function canaryStepRows(state: CanaryState): StepRow[] {
  return state.plan.steps.map((step, index) => {
    const report = state.steps[index]
    const row = {
      number: index + 1,
      weight: step.weight,
      holdSeconds: step.holdSeconds,
      holdRequests: step.holdRequests,
      manual: step.manual,
    }
    if (report) {
      const status: StepStatus =
        report.verdict.decision === 'fail'
          ? 'failed'
          : state.phase === 'waiting' && index === state.step
            ? 'waiting'
            : report.verdict.decision === 'pass'
              ? 'passed'
              : 'judging'
      return {
        ...row,
        status,
        reason: report.verdict.reason,
        newer: report.newer,
        older: report.older,
        elapsedMs: report.elapsedMs,
      }
    }
    const current = index === state.step
    const last = current ? state.samples.findLast((sample) => sample.step === index) : undefined
    const status: StepStatus =
      state.phase === 'judging' && current
        ? 'judging'
        : state.phase === 'rolled-back'
          ? current
            ? 'rolled-back'
            : 'not run'
          : 'pending'
    return {
      ...row,
      status,
      reason: status === 'judging' ? state.holding : null,
      newer: last?.newer ?? null,
      older: last?.older ?? null,
      elapsedMs: null,
    }
  })
}

export type CanaryMetric = 'errorRate' | 'p99'

interface Line {
  version: 'newer' | 'older'
  label: string
  /** SVG path; a new segment at each step (the figures start afresh there) and after a gap. */
  path: string
  /** The last value drawn, for the legend. */
  last: number | null
}

export interface CanaryChart {
  metric: CanaryMetric
  /** The axis' unit: "%" or "ms". */
  unit: string
  lines: Line[]
  /** The threshold's height, when the metric has an absolute one. */
  limit: { value: number; y: number } | null
  yTicks: { value: number; y: number }[]
  /** Seconds (or minutes) since the first sample. */
  xTicks: { label: string; x: number }[]
  /** Where each step's samples begin, with its share (empty where it would overlap the one before). */
  steps: { x: number; label: string; first: boolean }[]
}

/** The least distance between two step labels, in chart units. */
const minLabelGap = 26

function round(value: number): number {
  return Math.round(value * 10) / 10
}

function elapsedLabel(ms: number): string {
  const seconds = Math.round(ms / 1000)
  return seconds < 120 ? `${seconds}s` : `${Math.round(seconds / 60)}m`
}

function metricValue(metric: CanaryMetric, figures: CanaryFigures): number | null {
  if (metric === 'p99') return figures.p99Ms
  const rate = errorRate(figures)
  return rate === null ? null : rate * 100
}

/**
 * Pure: each version's error rate (%) or p99 (ms) over time, from the samples (each the
 * version's figures over its step so far, as the judge sees them), with the step boundaries
 * and the absolute threshold in the same box as the traffic chart.
 */
export function shapeCanaryChart(
  state: Pick<CanaryState, 'samples' | 'plan'>,
  metric: CanaryMetric,
): CanaryChart {
  const { width, height, left, right, top, bottom } = chartBox
  const plotWidth = width - left - right
  const plotHeight = height - top - bottom
  const samples = state.samples
  const { thresholds } = state.plan
  const limitValue = metric === 'p99' ? thresholds.maxP99Ms : thresholds.maxErrorRate * 100
  const values = (['newer', 'older'] as const).map((version) =>
    samples.map((sample) => metricValue(metric, sample[version])),
  )
  const peak = Math.max(0, limitValue ?? 0, ...values.flat().map((value) => value ?? 0))
  const yMax = niceCeiling(peak)
  const from = samples[0]?.t ?? 0
  const span = (samples.at(-1)?.t ?? 0) - from
  const x = (t: number) => round(left + (span <= 0 ? plotWidth / 2 : ((t - from) / span) * plotWidth))
  const y = (value: number) => round(top + plotHeight - (value / yMax) * plotHeight)

  const lines = (['newer', 'older'] as const).map((version, which) => {
    const series = values[which] ?? []
    let path = ''
    let drawing = false
    samples.forEach((sample, index) => {
      const value = series[index] ?? null
      const newStep = index > 0 && samples[index - 1]?.step !== sample.step
      if (value === null) {
        drawing = false
        return
      }
      path += `${drawing && !newStep ? ' L' : `${path ? ' ' : ''}M`}${x(sample.t)},${y(value)}`
      drawing = true
    })
    return {
      version,
      label: version === 'newer' ? 'new release' : 'old release',
      path,
      last: series.findLast((value) => value !== null) ?? null,
    }
  })

  const steps: CanaryChart['steps'] = []
  let labelledAt = -Infinity
  samples.forEach((sample, index) => {
    if (index > 0 && samples[index - 1]?.step === sample.step) return
    const at = x(sample.t)
    // A label too near the one before would overlap it: the line alone marks that step.
    const crowded = at - labelledAt < minLabelGap
    if (!crowded) labelledAt = at
    const label = crowded ? '' : `${state.plan.steps[sample.step]?.weight ?? '?'}%`
    steps.push({ x: at, label, first: index === 0 })
  })
  const xTicks =
    samples.length <= 1
      ? [{ label: '0s', x: x(from) }]
      : [0, 0.25, 0.5, 0.75, 1].map((share) => ({
          label: elapsedLabel(share * span),
          x: round(left + share * plotWidth),
        }))
  return {
    metric,
    unit: metric === 'p99' ? 'ms' : '%',
    lines,
    limit: limitValue === null ? null : { value: limitValue, y: y(limitValue) },
    yTicks: [0, yMax / 2, yMax].map((value) => ({ value, y: y(value) })),
    xTicks,
    steps,
  }
}

/**
 * Whether the pipeline page should poll: a deploy stage runs whose canary runs or may start
 * (its state is written about once a second, with no live event of its own).
 */
export function canaryNeedsPolling(stages: readonly Pick<Stage, 'kind' | 'status' | 'canary'>[]): boolean {
  return stages.some(
    (stage) =>
      stage.kind === 'deploy' && stage.status === 'running' && (!stage.canary || canaryIsLive(stage.canary)),
  )
}

/** How often the pipeline page polls while a canary runs. */
export const canaryPollMs = 2000
