import { TrafficReport } from '@slipway/contracts'
import { describe, expect, it } from 'vitest'
import { chartBox, niceCeiling, releaseLabel, shapeTraffic } from './shape.ts'

const at = 1_796_398_000_000

function report(series: TrafficReport['series'], stepSeconds = 1): TrafficReport {
  const failed = series.reduce((sum, point) => sum + point.failed, 0)
  const requests = series.reduce(
    (sum, point) => sum + Object.values(point.byRelease).reduce((a, b) => a + b, 0),
    failed,
  )
  return TrafficReport.parse({
    fromMs: at,
    toMs: at + series.length * stepSeconds * 1000,
    stepSeconds,
    totals: {
      requests,
      ok: requests - failed,
      failed,
      failedBy: { connection: 0, gateway5xx: failed, app5xx: 0 },
      clientAborts: 0,
      retried: 0,
    },
    latencyMs: { p50: 2, p99: 30 },
    releases: {},
    series,
    recordedUntilMs: at + series.length * 1000,
    complete: true,
  })
}

const numbers = new Map([
  ['old-release-id', 6],
  ['new-release-id', 7],
])

/** The y values of an area's upper edge (its first half of points). */
function upperYs(area: string): number[] {
  const points = area
    .slice(1, -2)
    .split(' L')
    .map((p) => Number(p.split(',')[1]))
  return points.slice(0, points.length / 2)
}

describe('shapeTraffic', () => {
  it('stacks releases oldest first, by their numbers, as requests per second', () => {
    const shaped = shapeTraffic(
      report([
        { t: at, byRelease: { 'old-release-id': 10 }, failed: 0 },
        { t: at + 1000, byRelease: { 'new-release-id': 4, 'old-release-id': 6 }, failed: 0 },
        { t: at + 2000, byRelease: { 'new-release-id': 10 }, failed: 0 },
      ]),
      numbers,
    )
    expect(shaped.layers.map((l) => [l.label, l.total])).toEqual([
      ['#6', 16],
      ['#7', 14],
    ])
    expect(shaped.peakPerSecond).toBe(10)
    const floor = chartBox.height - chartBox.bottom
    const topOfPlot = chartBox.top
    // The old release fills the first second to the top (10 of a 10 req/s axis), then 6, then none.
    const [old, fresh] = shaped.layers.map((l) => upperYs(l.area))
    expect(old?.[0]).toBe(topOfPlot)
    expect(old?.[2]).toBe(floor)
    // The new one is stacked on it: together they reach the top every second.
    expect(fresh).toEqual([topOfPlot, topOfPlot, topOfPlot])
    expect(shaped.failedMarks).toEqual([])
  })

  it('marks the steps with failures, per second when a step is longer', () => {
    const shaped = shapeTraffic(
      report(
        [
          { t: at, byRelease: { 'new-release-id': 40 }, failed: 0 },
          { t: at + 5000, byRelease: { 'new-release-id': 30 }, failed: 10 },
        ],
        5,
      ),
      numbers,
    )
    expect(shaped.peakPerSecond).toBe(8)
    expect(shaped.failedMarks).toHaveLength(1)
    expect(shaped.failedMarks[0]).toMatchObject({
      count: 10,
      t: at + 5000,
      x: chartBox.width - chartBox.right,
    })
    expect(shaped.yTicks.map((t) => t.value)).toEqual([0, 5, 10])
    expect(shaped.xTicks.at(-1)?.label).toBe('5s')
  })

  it('labels releases without a known number by their id, and puts unknown last', () => {
    const shaped = shapeTraffic(
      report([{ t: at, byRelease: { unknown: 1, '0193a5c2-aaaa-7bbb': 2, 'new-release-id': 3 }, failed: 0 }]),
      numbers,
    )
    expect(shaped.layers.map((l) => l.label)).toEqual(['#7', '0193a5c2', 'unknown'])
    expect(shaped.xTicks).toEqual([
      { label: '0s', x: chartBox.left + (chartBox.width - chartBox.left - chartBox.right) / 2 },
    ])
  })

  it('an empty window draws nothing and keeps a 0..1 axis', () => {
    const shaped = shapeTraffic(report([{ t: at, byRelease: {}, failed: 0 }]), numbers)
    expect(shaped.layers).toEqual([])
    expect(shaped.yTicks.map((t) => t.value)).toEqual([0, 0.5, 1])
  })
})

describe('helpers', () => {
  it('niceCeiling picks 1, 2 or 5 times a power of ten', () => {
    expect([0, 0.3, 1, 3, 7, 10, 11, 180, 2001].map(niceCeiling)).toEqual([
      1, 0.5, 1, 5, 10, 10, 20, 200, 5000,
    ])
  })
  it('releaseLabel', () => {
    expect(releaseLabel('old-release-id', numbers)).toBe('#6')
    expect(releaseLabel('unknown', numbers)).toBe('unknown')
  })
})
