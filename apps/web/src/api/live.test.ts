import { describe, expect, it } from 'vitest'
import { keysToRefresh } from './live.ts'

describe('keysToRefresh', () => {
  it('refreshes the pipeline, its approval and the lists on a stage event', () => {
    expect(keysToRefresh('p1', { type: 'stage', pipelineId: 'x' })).toEqual([
      'pipelines:p1',
      'pipeline:x',
      'approval:x',
    ])
  })

  it('refreshes environments and the projects list when a release changes', () => {
    expect(keysToRefresh('p1', { type: 'release', environmentId: 'e' })).toEqual([
      'envs:p1',
      'env:p1:',
      'projects',
    ])
  })

  it('ignores what it does not know', () => {
    expect(keysToRefresh('p1', { type: 'other' })).toEqual([])
  })
})
