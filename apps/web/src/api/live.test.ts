import { describe, expect, it } from 'vitest'
import { firstRetryMs, keysToRefresh, nextRetryMs, parseRunEvent } from './live.ts'

describe('keysToRefresh', () => {
  it('refreshes the pipeline, its approval and the lists on a stage event', () => {
    const event = { type: 'stage', pipelineId: 'x', stageId: 's', status: 'running', attempt: 1 } as const
    expect(keysToRefresh('p1', event)).toEqual(['pipelines:p1', 'pipeline:x', 'approval:x'])
  })

  it('refreshes environments and the projects list when a release or a pipeline changes', () => {
    expect(
      keysToRefresh('p1', { type: 'release', environmentId: 'e', releaseId: 'r', status: 'live' }),
    ).toEqual(['envs:p1', 'env:p1:', 'projects'])
    expect(
      keysToRefresh('p1', { type: 'pipeline', pipelineId: 'x', status: 'succeeded', number: 3 }),
    ).toEqual(['pipelines:p1', 'pipeline:x', 'approval:x', 'envs:p1', 'env:p1:', 'projects'])
  })
})

describe('parseRunEvent', () => {
  it('reads an event as the contract says', () => {
    const data = JSON.stringify({
      type: 'stage',
      pipelineId: 'x',
      stageId: 's',
      status: 'failed',
      attempt: 2,
      error: 'boom',
    })
    expect(parseRunEvent(data)).toEqual({
      type: 'stage',
      pipelineId: 'x',
      stageId: 's',
      status: 'failed',
      attempt: 2,
      error: 'boom',
    })
  })

  it('ignores what it does not know or cannot read', () => {
    expect(parseRunEvent(JSON.stringify({ type: 'other', pipelineId: 'x' }))).toBeNull()
    expect(parseRunEvent(JSON.stringify({ type: 'stage', pipelineId: 'x' }))).toBeNull()
    expect(parseRunEvent('not json')).toBeNull()
  })
})

describe('retries after the browser gave up on a stream', () => {
  it('waits 3 s, then twice as long each time, at most 30 s', () => {
    const waits = [firstRetryMs]
    for (let i = 0; i < 5; i++) waits.push(nextRetryMs(waits.at(-1)!))
    expect(waits).toEqual([3000, 6000, 12_000, 24_000, 30_000, 30_000])
  })
})
