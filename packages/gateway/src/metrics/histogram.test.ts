import { seededRandom } from '@slipway/testing/services'
import { describe, expect, test } from 'vitest'
import { histogramMaxMs, histogramMinMs, histogramRelativeError, LatencyHistogram } from './histogram.ts'

/** Latencies spread over the whole range on a log scale, with HAProxy's whole ms and 0 mixed in. */
function sample(next: () => number, size: number): number[] {
  return Array.from({ length: size }, () => {
    const kind = next()
    if (kind < 0.05) return 0
    const value = histogramMinMs * (histogramMaxMs / histogramMinMs) ** next()
    return kind < 0.5 ? Math.round(value) : value
  })
}

function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1] as number
}

function histogramOf(values: number[]): LatencyHistogram {
  const histogram = new LatencyHistogram()
  for (const value of values) histogram.add(value)
  return histogram
}

describe('LatencyHistogram', () => {
  test('the relative error bound is about 5%', () => {
    expect(histogramRelativeError).toBeLessThan(0.05)
  })

  test('property: p50, p90, p99 and max are within the relative error of the exact nearest-rank value', () => {
    const next = seededRandom(1)
    for (let run = 0; run < 300; run++) {
      const values = sample(next, 1 + Math.floor(next() * 2000))
      const histogram = histogramOf(values)
      expect(histogram.count).toBe(values.length)
      for (const q of [0.01, 0.5, 0.9, 0.99, 1]) {
        const want = exact(values, q)
        const got = histogram.percentile(q) as number
        if (want < histogramMinMs) expect(got).toBe(0)
        else expect(Math.abs(got - want)).toBeLessThanOrEqual(want * histogramRelativeError * (1 + 1e-9))
      }
    }
  })

  test('property: merging is the histogram of the concatenated samples', () => {
    const next = seededRandom(2)
    for (let run = 0; run < 200; run++) {
      const a = sample(next, Math.floor(next() * 500))
      const b = sample(next, Math.floor(next() * 500))
      const merged = histogramOf(a).merge(histogramOf(b))
      expect(merged.toPairs()).toEqual(histogramOf([...a, ...b]).toPairs())
      expect(merged.count).toBe(a.length + b.length)
      expect(merged.percentile(0.99)).toBe(histogramOf([...a, ...b]).percentile(0.99))
    }
  })

  test('property: stored pairs give the same histogram back', () => {
    const next = seededRandom(3)
    for (let run = 0; run < 100; run++) {
      const histogram = histogramOf(sample(next, Math.floor(next() * 300)))
      const back = LatencyHistogram.fromPairs(JSON.parse(JSON.stringify(histogram.toPairs())))
      expect(back.toPairs()).toEqual(histogram.toPairs())
      expect(back.percentile(0.5)).toBe(histogram.percentile(0.5))
    }
  })

  test('empty, zero, and beyond the range', () => {
    expect(new LatencyHistogram().percentile(0.5)).toBeUndefined()
    expect(histogramOf([0, 0, 0]).percentile(0.99)).toBe(0)
    expect(histogramOf([500_000]).percentile(0.5)).toBe(histogramMaxMs)
  })

  test('rejects pairs that are not a histogram', () => {
    expect(() => LatencyHistogram.fromPairs({})).toThrow(TypeError)
    expect(() => LatencyHistogram.fromPairs([[1, -1]])).toThrow(TypeError)
    expect(() => LatencyHistogram.fromPairs([[10_000, 1]])).toThrow(TypeError)
  })
})
