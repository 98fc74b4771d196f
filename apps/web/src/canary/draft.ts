import { CanaryStep, CanaryStrategy } from '@slipway/contracts'
import { num } from '../settings/draft.ts'

/** Pure: an environment's canary strategy as form text, and back. */

interface CanaryStepDraft {
  weight: string
  holdSeconds: string
  holdRequests: string
  manual: boolean
}

export interface CanaryDraft {
  /** Off: rolling deploys only. The steps stay in the draft while off, to turn it on again. */
  enabled: boolean
  steps: CanaryStepDraft[]
  minRequests: string
  /** Percent, where the contract has 0..1. */
  maxErrorRatePercent: string
  maxErrorRateRatio: string
  /** Empty: no absolute bound. */
  maxP99Ms: string
  maxP99Ratio: string
  /** A cookie keeps each client on the version that first answered it. */
  sticky: boolean
}

/** Why an environment cannot run canaries, or undefined. */
export function canaryUnavailable(target: string): string | undefined {
  return target === 'swarm'
    ? 'Canary steps run on Docker-hosts environments only: Swarm updates its service itself.'
    : undefined
}

/** The most steps a canary has (as the contract allows). */
export const maxCanarySteps = 10

function stepDraft(step: CanaryStep): CanaryStepDraft {
  return {
    weight: String(step.weight),
    holdSeconds: String(step.holdSeconds),
    holdRequests: String(step.holdRequests),
    manual: step.manual,
  }
}

/** 0.015 -> "1.5" (without 1.5000000000000002). */
function percentOf(rate: number): string {
  return String(Number((rate * 100).toPrecision(12)))
}

/** The form's text for a strategy's canary; the contract's defaults when there is none. */
export function canaryDraftOf(canary: CanaryStrategy | null | undefined): CanaryDraft {
  const strategy = canary ?? CanaryStrategy.parse({})
  const t = strategy.thresholds
  return {
    enabled: Boolean(canary),
    steps: strategy.steps.map(stepDraft),
    minRequests: String(t.minRequests),
    maxErrorRatePercent: percentOf(t.maxErrorRate),
    maxErrorRateRatio: String(t.maxErrorRateRatio),
    maxP99Ms: t.maxP99Ms === null ? '' : String(t.maxP99Ms),
    maxP99Ratio: String(t.maxP99Ratio),
    sticky: strategy.sticky,
  }
}

/** The request's `strategy.canary`: null when off (or where canaries cannot run). */
export function canaryBody(draft: CanaryDraft, allowed = true) {
  if (!draft.enabled || !allowed) return null
  const percent = num(draft.maxErrorRatePercent)
  return {
    steps: draft.steps.map((step) => ({
      weight: num(step.weight),
      holdSeconds: num(step.holdSeconds),
      holdRequests: num(step.holdRequests),
      manual: step.manual,
    })),
    thresholds: {
      minRequests: num(draft.minRequests),
      maxErrorRate: percent === undefined ? undefined : percent / 100,
      maxErrorRateRatio: num(draft.maxErrorRateRatio),
      maxP99Ms: num(draft.maxP99Ms) ?? null,
      maxP99Ratio: num(draft.maxP99Ratio),
    },
    sticky: draft.sticky,
  }
}

/** One more step after the last: a larger share (doubled, at most 99%), held as the last one is. */
export function withStepAdded(draft: CanaryDraft): CanaryDraft {
  if (draft.steps.length >= maxCanarySteps) return draft
  const last = draft.steps.at(-1)
  const lastWeight = Number(last?.weight)
  const weight = Number.isInteger(lastWeight) && lastWeight > 0 ? Math.min(99, lastWeight * 2) : 5
  const step = last ? { ...last, weight: String(weight) } : stepDraft(CanaryStep.parse({ weight }))
  return { ...draft, steps: [...draft.steps, step] }
}

export function withStepRemoved(draft: CanaryDraft, index: number): CanaryDraft {
  if (draft.steps.length <= 1) return draft
  return { ...draft, steps: draft.steps.filter((_, at) => at !== index) }
}

export function withStepChanged(
  draft: CanaryDraft,
  index: number,
  change: Partial<CanaryStepDraft>,
): CanaryDraft {
  return { ...draft, steps: draft.steps.map((step, at) => (at === index ? { ...step, ...change } : step)) }
}
