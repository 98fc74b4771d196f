import { TrafficReport } from '@slipway/contracts'
import { describe, expect, it } from 'vitest'
import { trafficLine } from './deploy.ts'

const report = (change: Partial<TrafficReport['totals']>, complete = true): TrafficReport =>
  TrafficReport.parse({
    fromMs: 0,
    toMs: 1000,
    stepSeconds: 1,
    totals: {
      requests: 120,
      ok: 120,
      failed: 0,
      failedBy: { connection: 0, gateway5xx: 0, app5xx: 0 },
      clientAborts: 0,
      retried: 0,
      ...change,
    },
    latencyMs: { p50: 3.2, p99: 41.7 },
    releases: {},
    series: [],
    recordedUntilMs: 1000,
    complete,
  })

describe('the deploy stage says what the gateway saw', () => {
  it('in one line: requests, failures by cause, p50 and p99', () => {
    expect(trafficLine(report({}))).toBe(
      'gateway during the rollout: 120 requests, 0 failed, p50 3 ms, p99 42 ms',
    )
    expect(
      trafficLine(
        report({ ok: 117, failed: 3, failedBy: { connection: 1, gateway5xx: 2, app5xx: 0 } }, false),
      ),
    ).toBe(
      'gateway during the rollout: 120 requests, 3 failed (1 connection, 2 gateway 5xx, 0 app 5xx), p50 3 ms, p99 42 ms (the recorder had not caught up: the end is missing)',
    )
  })
})
