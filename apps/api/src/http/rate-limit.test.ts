import { describe, expect, it } from 'vitest'
import { backoffDelayMs } from './rate-limit.ts'

describe('backoff delays', () => {
  const rule = { free: 3, baseMs: 1000, capMs: 10_000, forgetMs: 60_000 }

  it('lets the free attempts through at once, then doubles up to the cap, never forever', () => {
    expect(Array.from({ length: 10 }, (_, count) => backoffDelayMs(count, rule))).toEqual([
      0, 0, 0, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ])
    expect(backoffDelayMs(10_000, rule)).toBe(10_000)
  })
})
