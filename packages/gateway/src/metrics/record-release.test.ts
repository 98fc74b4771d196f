import { TrafficReport } from '@slipway/contracts'
import { integrationTest } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { recordReleaseTraffic } from './record-release.ts'
import { trafficKeys, writeSeconds } from './store.ts'

const base = 1_796_398_000_000

describe('recordReleaseTraffic', () => {
  integrationTest(
    'stores the report in Release.traffic, and says when the recorder was behind',
    async ({ db, redis, redisPrefix }) => {
      const project = await db.project.create({
        data: {
          slug: 'demo',
          name: 'Demo',
          gitUrl: 'file:///demo.git',
          appSpec: {},
          imageRepository: 'demo',
        },
      })
      const environment = await db.environment.create({
        data: { projectId: project.id, name: 'production', position: 0 },
      })
      const release = await db.release.create({
        data: {
          environmentId: environment.id,
          number: 1,
          kind: 'deploy',
          image: 'demo',
          digest: 'sha256:0',
          replicas: 2,
        },
      })
      const options = {
        db,
        redis,
        prefix: redisPrefix,
        releaseId: release.id,
        project: 'demo',
        environment: 'production',
        fromMs: base,
        toMs: base + 1500,
      }

      const behind = await recordReleaseTraffic({ ...options, waitMs: 100 })
      expect(behind).toMatchObject({ complete: false, recordedUntilMs: null })

      await redis.set(trafficKeys(redisPrefix).lease, 'token', 'PX', 60_000)
      const record = {
        requests: 4,
        ok: 3,
        connection: 0,
        gateway5xx: 0,
        app5xx: 1,
        clientAborts: 0,
        retried: 0,
      }
      const json = JSON.stringify({ ...record, byRelease: { [release.id]: 4 }, latency: [[25, 4]] })
      await writeSeconds(redis, redisPrefix, 'token', base + 1000, {}, [
        { site: 'demo_production', secondMs: base + 1000, json },
      ])
      const report = await recordReleaseTraffic(options)
      expect(report).toMatchObject({
        complete: true,
        totals: { requests: 4, failed: 1, failedBy: { app5xx: 1 } },
      })

      const stored = await db.release.findUniqueOrThrow({ where: { id: release.id } })
      expect(TrafficReport.parse(stored.traffic)).toEqual(report)
      expect(report.series).toEqual([
        { t: base, byRelease: {}, failed: 0 },
        { t: base + 1000, byRelease: { [release.id]: 4 }, failed: 1 },
      ])
    },
  )
})
