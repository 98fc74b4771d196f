import type { TrafficReport } from '@slipway/contracts'

/** The chart's drawing box (SVG user units; the SVG scales to its container). */
export const chartBox = { width: 420, height: 180, left: 40, right: 10, top: 22, bottom: 24 }

/** Colours of the releases, oldest first; failures are always `failedColor`. */
const palette = ['#8a94a6', '#2456c7', '#1a8a6a', '#b26b00', '#7a3fb3', '#0f7c99']
export const failedColor = '#b3261e'

interface TrafficLayer {
  release: string
  /** `#12`, or a short id when the release's number is unknown. */
  label: string
  color: string
  /** The stacked area of this release's requests per second. */
  area: string
  /** Requests this release served in the window. */
  total: number
}

export interface ShapedTraffic {
  layers: TrafficLayer[]
  /** The failed requests per second, as a line, and a mark where any failed. */
  failedLine: string
  failedMarks: { x: number; y: number; count: number; t: number }[]
  /** The y axis: requests per second. */
  yTicks: { value: number; y: number }[]
  /** The x axis: seconds since the window's start. */
  xTicks: { label: string; x: number }[]
  /** Highest requests per second of a step (all releases together). */
  peakPerSecond: number
}

/** A release's label: its number where known, else the start of its id. */
export function releaseLabel(release: string, numbers: ReadonlyMap<string, number>): string {
  const number = numbers.get(release)
  if (number !== undefined) return `#${number}`
  if (release === 'unknown') return 'unknown'
  return release.slice(0, 8)
}

/** 1, 2 or 5 times a power of ten, at least `value`: the top of the y axis. */
export function niceCeiling(value: number): number {
  if (value <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(value))
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power
  return 10 * power
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

/**
 * Pure: a report's series as stacked areas of requests per second by release (oldest
 * release at the bottom; by number where known) and a line of failed requests per second.
 */
export function shapeTraffic(report: TrafficReport, numbers: ReadonlyMap<string, number>): ShapedTraffic {
  const { width, height, left, right, top, bottom } = chartBox
  const plotWidth = width - left - right
  const plotHeight = height - top - bottom
  const step = report.stepSeconds
  const points = report.series
  const totals = new Map<string, number>()
  for (const point of points)
    for (const [release, count] of Object.entries(point.byRelease))
      totals.set(release, (totals.get(release) ?? 0) + count)
  const order = (release: string) => numbers.get(release) ?? (release === 'unknown' ? Infinity : 1e12)
  const releases = [...totals.keys()].sort((a, b) => order(a) - order(b) || (a < b ? -1 : 1))

  const perSecond = (count: number) => count / step
  let peak = 0
  for (const point of points) {
    const served = Object.values(point.byRelease).reduce((sum, n) => sum + n, 0)
    peak = Math.max(peak, perSecond(served), perSecond(point.failed))
  }
  const yMax = niceCeiling(peak)
  const x = (index: number) =>
    round(left + (points.length <= 1 ? plotWidth / 2 : (index / (points.length - 1)) * plotWidth))
  const y = (value: number) => round(top + plotHeight - (value / yMax) * plotHeight)

  const below = points.map(() => 0)
  const layers = releases.map((release, index) => {
    const lower = [...below]
    points.forEach((point, i) => {
      below[i] = (below[i] ?? 0) + perSecond(point.byRelease[release] ?? 0)
    })
    const upper = points.map((_, i) => `${x(i)},${y(below[i] ?? 0)}`)
    const base = points.map((_, i) => `${x(i)},${y(lower[i] ?? 0)}`).reverse()
    return {
      release,
      label: releaseLabel(release, numbers),
      color: palette[index % palette.length] as string,
      area: points.length ? `M${[...upper, ...base].join(' L')} Z` : '',
      total: totals.get(release) ?? 0,
    }
  })

  const failedLine = points.length
    ? `M${points.map((p, i) => `${x(i)},${y(perSecond(p.failed))}`).join(' L')}`
    : ''
  const failedMarks = points.flatMap((point, i) =>
    point.failed > 0 ? [{ x: x(i), y: y(perSecond(point.failed)), count: point.failed, t: point.t }] : [],
  )
  const yTicks = [0, yMax / 2, yMax].map((value) => ({ value, y: y(value) }))
  const seconds = (report.toMs - report.fromMs) / 1000
  const xTicks =
    points.length <= 1
      ? [{ label: '0s', x: x(0) }]
      : [0, 0.25, 0.5, 0.75, 1].map((share) => ({
          label: `${Math.round(share * (seconds - step))}s`,
          x: round(left + share * plotWidth),
        }))
  return { layers, failedLine, failedMarks, yTicks, xTicks, peakPerSecond: peak }
}
