import { type StageKind, type StageStatus, stageStatuses } from '@slipway/contracts'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  isTerminal,
  nextStep,
  pipelineStatusOf,
  type StageEvent,
  stageEvents,
  transition,
} from './machine.ts'

const kinds: StageKind[] = ['build', 'push', 'deploy', 'approval']

/** Every allowed (kind, from, event) -> to, written out. Anything absent must be refused. */
const allowed: [StageKind[], StageStatus, StageEvent, StageStatus][] = [
  [['build', 'push', 'deploy'], 'pending', 'enqueue', 'queued'],
  [['approval'], 'pending', 'await', 'waiting'],
  [kinds, 'pending', 'cancel', 'canceled'],
  [kinds, 'pending', 'skip', 'skipped'],
  [['build', 'push', 'deploy'], 'queued', 'start', 'running'],
  [kinds, 'queued', 'cancel', 'canceled'],
  [kinds, 'queued', 'fail', 'failed'],
  [kinds, 'queued', 'skip', 'skipped'],
  [['build', 'push', 'deploy'], 'running', 'succeed', 'succeeded'],
  [kinds, 'running', 'fail', 'failed'],
  [['build', 'push', 'deploy'], 'running', 'release', 'queued'],
  [kinds, 'running', 'cancel', 'canceled'],
  [['approval'], 'waiting', 'approve', 'succeeded'],
  [['approval'], 'waiting', 'reject', 'failed'],
  [kinds, 'waiting', 'cancel', 'canceled'],
  [kinds, 'waiting', 'fail', 'failed'],
  [kinds, 'failed', 'retry', 'pending'],
  [kinds, 'canceled', 'retry', 'pending'],
  [kinds, 'skipped', 'retry', 'pending'],
]

describe('stage transitions', () => {
  it('allow exactly the listed transitions, for every kind, status and event', () => {
    let checked = 0
    for (const kind of kinds) {
      for (const from of stageStatuses) {
        for (const event of stageEvents) {
          const row = allowed.find(([k, f, e]) => k.includes(kind) && f === from && e === event)
          const result = transition(kind, from, event)
          expect(result, `${kind} ${from} --${event}-->`).toEqual(
            row ? { ok: true, to: row[3] } : expect.objectContaining({ ok: false }),
          )
          checked++
        }
      }
    }
    expect(checked).toBe(kinds.length * stageStatuses.length * stageEvents.length)
  })

  it('explain refusals', () => {
    expect(transition('build', 'succeeded', 'start')).toEqual({
      ok: false,
      reason: 'cannot start a stage that is succeeded',
    })
    expect(transition('build', 'pending', 'await')).toEqual({
      ok: false,
      reason: 'a build stage cannot await',
    })
  })

  it('never leave a succeeded stage', () => {
    for (const kind of kinds)
      for (const event of stageEvents) expect(transition(kind, 'succeeded', event).ok).toBe(false)
  })
})

const stageArb = fc.record({
  kind: fc.constantFrom(...kinds),
  status: fc.constantFrom(...stageStatuses),
})

describe('pipeline status', () => {
  it('examples', () => {
    const s = (...statuses: StageStatus[]) => statuses.map((status) => ({ status }))
    expect(pipelineStatusOf(s('pending', 'pending'))).toBe('queued')
    expect(pipelineStatusOf(s('queued', 'pending'))).toBe('queued')
    expect(pipelineStatusOf(s('succeeded', 'queued'))).toBe('running')
    expect(pipelineStatusOf(s('succeeded', 'running'))).toBe('running')
    expect(pipelineStatusOf(s('succeeded', 'waiting', 'pending'))).toBe('waiting')
    expect(pipelineStatusOf(s('succeeded', 'failed', 'skipped'))).toBe('failed')
    expect(pipelineStatusOf(s('canceled', 'skipped'))).toBe('canceled')
    expect(pipelineStatusOf(s('succeeded', 'skipped'))).toBe('succeeded')
    expect(pipelineStatusOf(s('failed', 'running'))).toBe('running')
    // Failed, but the stages after it are not skipped yet: not over.
    expect(pipelineStatusOf(s('failed', 'pending', 'pending'))).toBe('running')
    expect(pipelineStatusOf(s('succeeded', 'canceled', 'pending'))).toBe('running')
  })

  it('is terminal exactly when no stage can still change by itself', () => {
    fc.assert(
      fc.property(fc.array(stageArb, { minLength: 1, maxLength: 8 }), (stages) => {
        const status = pipelineStatusOf(stages)
        const active = stages.some(
          (s) =>
            s.status === 'queued' ||
            s.status === 'running' ||
            s.status === 'waiting' ||
            s.status === 'pending',
        )
        if (['succeeded', 'failed', 'canceled'].includes(status)) expect(active).toBe(false)
        if (status === 'succeeded')
          expect(stages.every((s) => s.status === 'succeeded' || s.status === 'skipped')).toBe(true)
      }),
    )
  })
})

describe('next step', () => {
  const st = (kind: StageKind, status: StageStatus) => ({ kind, status })

  it('starts stages in order and waits for approvals', () => {
    expect(nextStep([st('build', 'pending'), st('push', 'pending')])).toEqual({
      kind: 'enqueue',
      stageIndex: 0,
    })
    expect(nextStep([st('build', 'succeeded'), st('push', 'pending')])).toEqual({
      kind: 'enqueue',
      stageIndex: 1,
    })
    expect(nextStep([st('build', 'succeeded'), st('approval', 'pending'), st('deploy', 'pending')])).toEqual({
      kind: 'await',
      stageIndex: 1,
    })
    expect(nextStep([st('build', 'running'), st('push', 'pending')]).kind).toBe('none')
  })

  it('finishes with the failure and skips what will not run', () => {
    expect(
      nextStep([
        st('build', 'succeeded'),
        st('push', 'failed'),
        st('deploy', 'pending'),
        st('deploy', 'pending'),
      ]),
    ).toEqual({
      kind: 'finish',
      status: 'failed',
      skip: [2, 3],
    })
    expect(nextStep([st('build', 'succeeded'), st('push', 'succeeded')])).toEqual({
      kind: 'finish',
      status: 'succeeded',
      skip: [],
    })
  })

  it('never enqueues a stage while an earlier one is unfinished (property)', () => {
    fc.assert(
      fc.property(fc.array(stageArb, { minLength: 1, maxLength: 8 }), (stages) => {
        const step = nextStep(stages)
        if (step.kind === 'enqueue' || step.kind === 'await') {
          for (const earlier of stages.slice(0, step.stageIndex)) {
            expect(earlier.status === 'succeeded' || earlier.status === 'skipped').toBe(true)
          }
          expect(stages[step.stageIndex]?.status).toBe('pending')
        }
        if (step.kind === 'finish' && step.status === 'succeeded') {
          expect(
            stages.every((s) => isTerminal(s.status) && s.status !== 'failed' && s.status !== 'canceled'),
          ).toBe(true)
        }
      }),
    )
  })
})
