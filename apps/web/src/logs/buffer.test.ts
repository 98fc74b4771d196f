import { describe, expect, it } from 'vitest'
import { LogBuffer, visibleRange } from './buffer.ts'

describe('LogBuffer', () => {
  it('appends in order and drops lines it already holds (resumed streams, repeated pages)', () => {
    const buffer = new LogBuffer()
    expect(
      buffer.append([
        [1, 10, 'a'],
        [2, 20, 'b'],
      ]),
    ).toBe(2)
    expect(
      buffer.append([
        [2, 20, 'b'],
        [3, 30, 'c'],
      ]),
    ).toBe(1)
    expect(buffer.append([[1, 10, 'a']])).toBe(0)
    expect(buffer.seqs).toEqual([1, 2, 3])
    expect(buffer.texts).toEqual(['a', 'b', 'c'])
    expect(buffer.lastSeq).toBe(3)
  })

  it('searches without case and without colour codes', () => {
    const buffer = new LogBuffer()
    buffer.append([
      [1, 0, 'Step 1/2'],
      [2, 0, '\u001b[31mERROR\u001b[0m: boom'],
      [3, 0, 'no error here? yes: Error'],
    ])
    expect(buffer.search('error')).toEqual([1, 2])
    expect(buffer.search('31m')).toEqual([])
    expect(buffer.search('')).toEqual([])
  })

  it('writes the log as text with the given time format', () => {
    const buffer = new LogBuffer()
    buffer.append([
      [1, 1000, '\u001b[1mbold\u001b[0m'],
      [2, 2000, 'two'],
    ])
    expect(buffer.toText((ms) => `t${ms}`)).toBe('t1000  bold\nt2000  two\n')
    expect(buffer.toText(null)).toBe('bold\ntwo\n')
  })

  it('holds 100k lines and finds one among them', () => {
    const buffer = new LogBuffer()
    const lines: [number, number, string][] = []
    for (let i = 1; i <= 100_000; i++) lines.push([i, i, i === 77_777 ? 'needle' : `line ${i}`])
    buffer.append(lines)
    expect(buffer.length).toBe(100_000)
    expect(buffer.search('needle')).toEqual([77_776])
  })
})

describe('visibleRange', () => {
  it('renders the rows in view plus the overscan, clamped to the log', () => {
    expect(visibleRange(0, 400, 20, 100_000, 10)).toEqual({ start: 0, end: 31 })
    expect(visibleRange(20_000, 400, 20, 100_000, 10)).toEqual({ start: 990, end: 1031 })
    expect(visibleRange(1_999_600, 400, 20, 100_000, 10)).toEqual({ start: 99_970, end: 100_000 })
    expect(visibleRange(-50, 400, 20, 5, 10)).toEqual({ start: 0, end: 5 })
  })
})
