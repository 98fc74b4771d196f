import { describe, expect, test } from 'vitest'
import { LatencyHistogram } from './histogram.ts'
import { parseTrafficLine } from './parse.ts'
import { SecondTally, unknownRelease } from './tally.ts'

function tallyOf(lines: string[]): SecondTally {
  const tally = new SecondTally()
  for (const text of lines) {
    const line = parseTrafficLine(text)
    if (!line) throw new Error(`not a traffic line: ${text}`)
    tally.add(line)
  }
  return tally
}

const p99 = (pairs: [number, number][]) => LatencyHistogram.fromPairs(pairs).percentile(0.99)

describe('SecondTally: what each release answered (a canary’s figures per version)', () => {
  test('requests, errors and latency by the release of the server that answered', () => {
    const tally = tallyOf([
      '1796398030.001 be_demo_production old-1 200 4 3 ---- 0',
      '1796398030.002 be_demo_production old-2 200 6 5 ---- 0',
      '1796398030.003 be_demo_production new-1 500 40 39 ---- 0',
      '1796398030.004 be_demo_production new-1 200 50 49 ---- 0',
      // A connection error to the new server, and a 503 no server took: only the former is the new version's.
      '1796398030.005 be_demo_production new-1 503 1000 -1 sC-- 2',
      '1796398030.006 be_demo_production <NOSRV> 503 0 -1 SC-- 0',
      // A client that gave up is neither an error nor a latency.
      '1796398030.007 be_demo_production old-1 -1 900 -1 CD-- 0',
      '1796398030.008 be_demo_production stray 200 2 1 ---- 0',
    ])
    const record = tally.toRecord(
      new Map([
        ['old-1', 'release-a'],
        ['old-2', 'release-a'],
        ['new-1', 'release-b'],
      ]),
    )
    expect(record.byRelease).toEqual({ 'release-a': 3, 'release-b': 3, [unknownRelease]: 1 })
    expect(record.releases?.['release-a']).toMatchObject({ requests: 3, errors: 0 })
    expect(record.releases?.['release-b']).toMatchObject({ requests: 3, errors: 2 })
    expect(record.releases?.[unknownRelease]).toMatchObject({ requests: 1, errors: 0 })
    // Latencies: the client abort left out of the old release's; ~5% precision.
    expect(p99(record.releases?.['release-a']?.latency ?? [])).toBeLessThan(7)
    expect(p99(record.releases?.['release-b']?.latency ?? [])).toBeGreaterThan(900)
    // The site's own counters are unchanged by the split.
    expect(record).toMatchObject({ requests: 8, ok: 4, clientAborts: 1 })
  })
})
