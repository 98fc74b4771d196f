import { Pipeline, Release } from '@slipway/contracts'
import { describe, expect, it } from 'vitest'
import { releaseOfStage } from './StageTraffic.tsx'

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`
const at = '2030-01-01T00:00:00.000Z'

const pipeline = Pipeline.parse({
  id: id(99),
  projectId: id(98),
  number: 7,
  ref: 'main',
  commitSha: 'a'.repeat(40),
  commitTitle: null,
  trigger: 'manual',
  actor: null,
  status: 'succeeded',
  imageDigest: null,
  error: null,
  createdAt: at,
  startedAt: at,
  finishedAt: at,
  stages: [
    {
      id: id(1),
      position: 0,
      kind: 'deploy',
      environment: { id: id(50), name: 'production', protected: true },
      status: 'failed',
      attempt: 1,
      actor: null,
      error: 'rolled back',
      result: null,
      queuedAt: at,
      startedAt: at,
      finishedAt: at,
      queuePosition: null,
      canary: null,
    },
  ],
})

function release(n: number, pipelineId: string | null): Release {
  return Release.parse({
    id: id(100 + n),
    number: n,
    kind: 'deploy',
    status: 'live',
    image: 'app@sha256:0',
    digest: 'sha256:0',
    replicas: 1,
    configVersion: null,
    pipeline: pipelineId ? { id: pipelineId, number: 1, commitSha: 'a'.repeat(40), ref: 'main' } : null,
    actor: null,
    error: null,
    createdAt: at,
    finishedAt: null,
    traffic: null,
  })
}

describe('releaseOfStage', () => {
  const stage = pipeline.stages[0]!
  const releases = [release(3, id(97)), release(2, id(99)), release(1, null)]

  it('is the release the stage result names', () => {
    expect(releaseOfStage({ ...stage, result: { releaseId: id(101) } }, pipeline, releases)?.number).toBe(1)
  })

  it('without a result (a failed deploy), the newest release of the pipeline', () => {
    expect(releaseOfStage(stage, pipeline, releases)?.number).toBe(2)
    expect(releaseOfStage(stage, { ...pipeline, id: id(1) }, releases)).toBeUndefined()
  })
})
