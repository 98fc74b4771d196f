import { Pipeline } from '@slipway/contracts'
import { describe, expect, it } from 'vitest'
import { defaultStage } from './PipelinePage.tsx'
import { queueText } from './PipelineTable.tsx'
import { stageName } from './StageGraph.tsx'

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`
const at = '2030-01-01T00:00:00.000Z'

function pipeline(statuses: string[], queuePosition: number | null = null) {
  const kinds = ['build', 'push', 'deploy', 'approval', 'deploy']
  const envs = [null, null, 'pre-release', 'production', 'production']
  return Pipeline.parse({
    id: id(99),
    projectId: id(98),
    number: 7,
    ref: 'main',
    commitSha: 'a'.repeat(40),
    commitTitle: null,
    trigger: 'manual',
    actor: 'dev@x',
    status: 'running',
    imageDigest: null,
    error: null,
    createdAt: at,
    startedAt: at,
    finishedAt: null,
    stages: statuses.map((status, i) => ({
      id: id(i + 1),
      position: i,
      kind: kinds[i],
      environment: envs[i] ? { id: id(50 + i), name: envs[i], protected: false } : null,
      status,
      attempt: 1,
      actor: null,
      error: null,
      result: null,
      queuedAt: status === 'queued' ? at : null,
      startedAt: ['running', 'succeeded', 'failed', 'waiting'].includes(status) ? at : null,
      finishedAt: null,
      queuePosition: status === 'queued' ? queuePosition : null,
      canary: null,
    })),
  })
}

describe('pipeline page helpers', () => {
  it('names stages after their environment', () => {
    const p = pipeline(['succeeded', 'succeeded', 'succeeded', 'waiting', 'pending'])
    expect(p.stages.map(stageName)).toEqual([
      'build',
      'push',
      'deploy pre-release',
      'approval production',
      'deploy production',
    ])
  })

  it('shows the running, waiting or failed stage first', () => {
    expect(
      defaultStage(pipeline(['succeeded', 'running', 'pending', 'pending', 'pending']).stages)?.kind,
    ).toBe('push')
    expect(
      defaultStage(pipeline(['succeeded', 'succeeded', 'succeeded', 'waiting', 'pending']).stages)?.kind,
    ).toBe('approval')
    expect(defaultStage(pipeline(['failed', 'skipped', 'skipped', 'skipped', 'skipped']).stages)?.kind).toBe(
      'build',
    )
  })

  it('says where a queued pipeline stands in line', () => {
    expect(queueText(pipeline(['queued', 'pending', 'pending', 'pending', 'pending'], 1))).toBe(
      'next in line for build',
    )
    expect(queueText(pipeline(['succeeded', 'succeeded', 'queued', 'pending', 'pending'], 3))).toBe(
      '#3 in line for deploy to pre-release',
    )
    expect(queueText(pipeline(['running', 'pending', 'pending', 'pending', 'pending']))).toBeNull()
  })
})
