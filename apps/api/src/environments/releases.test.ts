import { TrafficReport } from '@slipway/contracts'
import { describe, expect } from 'vitest'
import { makeProject, makeUser, apiTest as test } from '../../test/support/test-app.ts'

const at = 1_796_398_000_000

/** A report as recordReleaseTraffic stores it (@slipway/gateway). */
const traffic: TrafficReport = {
  fromMs: at,
  toMs: at + 2000,
  stepSeconds: 1,
  totals: {
    requests: 120,
    ok: 117,
    failed: 3,
    failedBy: { connection: 0, gateway5xx: 1, app5xx: 2 },
    clientAborts: 1,
    retried: 0,
  },
  latencyMs: { p50: 3.4, p99: 48.1 },
  releases: {
    old: { requests: 80, errors: 0, latencyMs: { p50: 3.1, p99: 20.4 } },
    new: { requests: 40, errors: 2, latencyMs: { p50: 3.9, p99: 48.1 } },
  },
  series: [
    { t: at, byRelease: { old: 60 }, failed: 0 },
    { t: at + 1000, byRelease: { old: 20, new: 40 }, failed: 3 },
  ],
  recordedUntilMs: at + 2000,
  complete: true,
}

describe('GET /api/projects/:project/environments/:environment/releases', () => {
  test('each release says what the gateway saw during its rollout, or null', async ({ app, db }) => {
    const project = await makeProject(db)
    const viewer = await makeUser(db, { projectId: project.id, role: 'viewer' })
    const env = await db.environment.create({
      data: { projectId: project.id, name: 'production', position: 0 },
    })
    const release = {
      environmentId: env.id,
      kind: 'deploy',
      image: 'test/app@sha256:0',
      digest: 'sha256:0',
      replicas: 2,
    }
    await db.release.create({ data: { ...release, number: 1, status: 'superseded' } })
    await db.release.create({ data: { ...release, number: 2, status: 'live', traffic } })
    // A stored report of another shape is left out (and logged), not a 500.
    await db.release.create({
      data: { ...release, number: 3, status: 'failed', traffic: { requests: 'many' } },
    })

    const response = await app.inject({
      method: 'GET',
      url: `/api/projects/${project.id}/environments/production/releases`,
      headers: viewer.headers,
    })
    expect(response.statusCode).toBe(200)
    const releases = response.json() as { number: number; traffic: unknown }[]
    expect(releases.map((r) => [r.number, r.traffic])).toEqual([
      [3, null],
      [2, traffic],
      [1, null],
    ])
    expect(TrafficReport.parse(releases[1]?.traffic)).toEqual(traffic)
  })

  test('the OpenAPI document describes the traffic report', async ({ app }) => {
    const api = (await app.inject({ method: 'GET', url: '/api/docs/json' })).json()
    const ok = api.paths['/api/projects/{project}/environments/{environment}/releases'].get.responses['200']
    const text = JSON.stringify(ok.content['application/json'].schema)
    for (const field of [
      'traffic',
      'failedBy',
      'gateway5xx',
      'app5xx',
      'clientAborts',
      'p99',
      'byRelease',
      'stepSeconds',
    ])
      expect(text).toContain(field)
  })
})
