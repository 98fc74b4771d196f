import { describe, expect, it } from 'vitest'
import { ago, uptime } from './format.tsx'

describe('uptime', () => {
  const now = Date.parse('2026-05-01T12:00:00Z')
  const before = (seconds: number) => new Date(now - seconds * 1000)

  it('says how long a container has been up, coarsely', () => {
    expect(uptime(before(42), now)).toBe('up 42s')
    expect(uptime(before(3 * 60 + 59), now)).toBe('up 3m')
    expect(uptime(before(5 * 3600 + 12 * 60 + 5), now)).toBe('up 5h 12m')
    expect(uptime(before(3 * 86400 + 4 * 3600), now)).toBe('up 3d 4h')
  })

  it('never goes below zero when the clocks of the host and the browser differ', () => {
    expect(uptime(new Date(now + 5000), now)).toBe('up 0s')
  })
})

describe('ago', () => {
  it('says just now for the last seconds', () => {
    expect(ago(new Date(1000), 3000)).toBe('just now')
    expect(ago(new Date(0), 90_000)).toBe('1m 30s ago')
  })
})
