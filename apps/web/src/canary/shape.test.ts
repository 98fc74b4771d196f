import { CanaryState } from '@slipway/contracts'
import { describe, expect, it } from 'vitest'
import { chartBox } from '../traffic/shape.ts'
import {
  canaryHeadline,
  canaryNeedsPolling,
  canaryStepRows,
  percentText,
  shapeCanaryChart,
  weightsText,
} from './shape.ts'

const at = 1_796_398_000_000
const figures = (requests: number, errors: number, p99Ms: number | null = 20) => ({ requests, errors, p99Ms })

function state(change: Partial<CanaryState> = {}): CanaryState {
  return CanaryState.parse({
    phase: 'judging',
    step: 1,
    weight: 25,
    weights: { newer: 64, older: 192 },
    plan: {
      steps: [
        { weight: 5, holdSeconds: 60, holdRequests: 100, manual: false },
        { weight: 25, holdSeconds: 60, holdRequests: 100, manual: true },
        { weight: 50, holdSeconds: 60, holdRequests: 100, manual: false },
      ],
      thresholds: {
        minRequests: 20,
        maxErrorRate: 0.01,
        maxErrorRateRatio: 2,
        maxP99Ms: null,
        maxP99Ratio: 2,
      },
    },
    steps: [
      {
        weight: 5,
        weights: { newer: 13, older: 243 },
        verdict: { decision: 'pass', reason: 'error rate 0% ≤ 1%' },
        newer: figures(120, 0),
        older: figures(2280, 3),
        elapsedMs: 61_000,
      },
    ],
    holding: 'held 12 s of 60 s',
    reason: null,
    samples: [
      { t: at, step: 0, newer: figures(0, 0, null), older: figures(40, 0) },
      { t: at + 1000, step: 0, newer: figures(10, 0), older: figures(190, 1) },
      { t: at + 2000, step: 1, newer: figures(50, 1, 30), older: figures(150, 0, 10) },
      { t: at + 4000, step: 1, newer: figures(100, 1, 40), older: figures(300, 3, 12) },
    ],
    command: null,
    updatedAt: new Date(at + 4000).toISOString(),
    ...change,
  })
}

describe('canary words', () => {
  it('says where the canary stands in each phase', () => {
    expect(canaryHeadline(state())).toBe('step 2 of 3: 25% of requests to the new release')
    expect(canaryHeadline(state({ phase: 'waiting' }))).toBe(
      'step 2 of 3 passed at 25%: waiting for a person',
    )
    expect(canaryHeadline(state({ phase: 'promoted', step: 3, weight: 100 }))).toBe(
      'promoted: every step passed',
    )
    expect(
      canaryHeadline(state({ phase: 'rolled-back', reason: 'aborted by tester@x at step 2 (25%)' })),
    ).toBe('rolled back: aborted by tester@x at step 2 (25%)')
    expect(canaryHeadline(state({ phase: 'starting', step: 0 }))).toMatch(/^starting/)
  })

  it('gives the gateway weights, and none once rolled back', () => {
    expect(weightsText(state())).toBe('new instance 64, each old instance 192')
    expect(weightsText(state({ phase: 'rolled-back', weights: { newer: 0, older: 1 } }))).toMatch(
      /serves alone/,
    )
  })

  it('writes small error rates readably', () => {
    expect([null, 0, 0.0004, 0.0123, 0.5].map(percentText)).toEqual(['—', '0%', '0.04%', '1.23%', '50%'])
  })
})

describe('canaryStepRows', () => {
  it('joins the plan with the verdicts, the current figures and what is to come', () => {
    const rows = canaryStepRows(state())
    expect(rows.map((row) => row.status)).toEqual(['passed', 'judging', 'pending'])
    expect(rows[0]).toMatchObject({ reason: 'error rate 0% ≤ 1%', elapsedMs: 61_000, newer: figures(120, 0) })
    // The step being judged shows its last sample and why it holds.
    expect(rows[1]).toMatchObject({
      reason: 'held 12 s of 60 s',
      newer: figures(100, 1, 40),
      older: figures(300, 3, 12),
      elapsedMs: null,
      manual: true,
    })
    expect(rows[2]).toMatchObject({ newer: null, older: null, reason: null })
  })

  it('marks the step waiting for a person, and the steps a rollback left out', () => {
    const passed = state().steps[0]!
    const waiting = canaryStepRows(state({ phase: 'waiting', steps: [passed, { ...passed, weight: 25 }] }))
    expect(waiting.map((row) => row.status)).toEqual(['passed', 'waiting', 'pending'])
    const aborted = canaryStepRows(state({ phase: 'rolled-back', reason: 'aborted' }))
    expect(aborted.map((row) => row.status)).toEqual(['passed', 'rolled-back', 'not run'])
    const failed = canaryStepRows(
      state({
        phase: 'rolled-back',
        steps: [passed, { ...passed, verdict: { decision: 'fail', reason: 'error rate 4% > 1%' } }],
      }),
    )
    expect(failed.map((row) => [row.status, row.reason])).toEqual([
      ['passed', 'error rate 0% ≤ 1%'],
      ['failed', 'error rate 4% > 1%'],
      ['not run', null],
    ])
  })
})

describe('shapeCanaryChart', () => {
  const { left, right, width, top, height, bottom } = chartBox

  it('draws each version by step, starting afresh at each step and skipping steps without requests', () => {
    const chart = shapeCanaryChart(state(), 'errorRate')
    // Error rates in %: new null, 0 | 2, 1; old 0, 0.53 | 0, 1. The limit (1%) sets the axis.
    expect(chart.yTicks.map((tick) => tick.value)).toEqual([0, 1, 2])
    const [newer, older] = chart.lines
    // The new release has no requests in the first sample: its line starts at the second.
    expect(newer?.path.match(/M/g)).toHaveLength(2)
    expect(newer?.path.startsWith(`M${left + (width - left - right) / 4},`)).toBe(true)
    expect(older?.path.match(/M/g)).toHaveLength(2)
    expect(older?.path.match(/L/g)).toHaveLength(2)
    expect(newer?.last).toBe(1)
    expect(chart.limit?.value).toBe(1)
    expect(chart.limit?.y).toBe(top + (height - top - bottom) / 2)
    // Each step's start, with its share.
    expect(chart.steps.map((step) => [step.label, step.first])).toEqual([
      ['5%', true],
      ['25%', false],
    ])
    expect(chart.steps[1]?.x).toBe(left + (width - left - right) / 2)
    expect(chart.xTicks.at(-1)?.label).toBe('4s')
  })

  it('draws p99 without a limit when there is no absolute bound', () => {
    const chart = shapeCanaryChart(state(), 'p99')
    expect(chart.limit).toBeNull()
    expect(chart.yTicks.at(-1)?.value).toBe(50)
    expect(chart.lines.map((line) => line.last)).toEqual([40, 12])
    const bounded = shapeCanaryChart(
      state({ plan: { ...state().plan, thresholds: { ...state().plan.thresholds, maxP99Ms: 150 } } }),
      'p99',
    )
    expect(bounded.limit?.value).toBe(150)
    expect(bounded.yTicks.at(-1)?.value).toBe(200)
  })

  it('an empty canary draws nothing', () => {
    const chart = shapeCanaryChart(state({ samples: [] }), 'p99')
    expect(chart.lines.map((line) => line.path)).toEqual(['', ''])
    expect(chart.steps).toEqual([])
  })
})

describe('canaryNeedsPolling', () => {
  it('polls while a deploy stage runs a canary, or may start one', () => {
    const deploy = { kind: 'deploy' as const, status: 'running' as const }
    expect(canaryNeedsPolling([{ ...deploy, canary: null }])).toBe(true)
    expect(canaryNeedsPolling([{ ...deploy, canary: state() }])).toBe(true)
    expect(canaryNeedsPolling([{ ...deploy, canary: state({ phase: 'promoted' }) }])).toBe(false)
    expect(canaryNeedsPolling([{ ...deploy, status: 'failed', canary: state() }])).toBe(false)
    expect(canaryNeedsPolling([{ kind: 'build', status: 'running', canary: null }])).toBe(false)
  })
})

describe('step marks', () => {
  it('leaves out a label that would overlap the one before', () => {
    const base = state()
    const samples = [0, 1, 2].map((step) => ({
      t: at + step * 100,
      step,
      newer: figures(10, 0),
      older: figures(10, 0),
    }))
    samples.push({ t: at + 60_000, step: 2, newer: figures(10, 0), older: figures(10, 0) })
    const chart = shapeCanaryChart({ ...base, samples }, 'errorRate')
    expect(chart.steps.map((step) => step.label)).toEqual(['5%', '', ''])
  })
})
