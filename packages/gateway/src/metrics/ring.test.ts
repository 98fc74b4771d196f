import { describe, expect, test } from 'vitest'
import { AnchorSkipper, indexAfter, tailOf } from './ring.ts'

const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `line ${from + i}`)

describe('indexAfter', () => {
  test('finds the position after the anchor', () => {
    const ring = lines(0, 100)
    expect(indexAfter(ring, tailOf(lines(0, 40), 5))).toBe(40)
    expect(indexAfter(ring, tailOf(ring))).toBe(100)
  })

  test('an anchor no longer in the ring, or none, gives no position', () => {
    expect(indexAfter(lines(50, 100), tailOf(lines(0, 40), 5))).toBeUndefined()
    expect(indexAfter(lines(0, 10), [])).toBeUndefined()
  })

  test('a repeated run resolves to its last occurrence', () => {
    expect(indexAfter(['a', 'b', 'x', 'a', 'b', 'y'], ['a', 'b'])).toBe(5)
  })
})

describe('AnchorSkipper', () => {
  test('skips the re-read ring up to the first dump’s end, then passes every line', () => {
    const first = lines(0, 50)
    // The second dump lost 10 lines to the ring's wrap and gained 5 new ones, then live lines.
    const second = [...lines(10, 55), ...lines(55, 60)]
    const skipper = new AnchorSkipper(tailOf(first), first.length)
    const passed = second.filter((line) => skipper.feed(line))
    expect(passed).toEqual(lines(50, 60))
    expect(skipper.matched).toBe(true)
  })

  test('with nothing before, every line is new', () => {
    const skipper = new AnchorSkipper([], 0)
    expect(lines(0, 3).filter((line) => skipper.feed(line))).toEqual(lines(0, 3))
  })

  test('gives up after `within` lines when the anchor never comes', () => {
    const skipper = new AnchorSkipper(['x', 'y'], 5)
    const passed = lines(0, 8).filter((line) => skipper.feed(line))
    expect(skipper.gaveUp).toBe(true)
    expect(passed).toEqual(lines(5, 8))
  })
})
