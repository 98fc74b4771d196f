import { EnvError, generateKeySpec } from '@slipway/core'
import { describe, expect, it } from 'vitest'
import { loadApiEnv } from './env.ts'

const valid = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/slipway',
  REDIS_URL: 'redis://127.0.0.1:6379',
  SLIPWAY_SECRET_KEYS: generateKeySpec(),
}

function issuesOf(source: Record<string, string | undefined>): string[] {
  try {
    loadApiEnv(source)
  } catch (error) {
    if (error instanceof EnvError) return error.issues
    throw error
  }
  return []
}

describe('API configuration', () => {
  it('applies defaults', () => {
    const env = loadApiEnv(valid)
    expect(env.SLIPWAY_PORT).toBe(3000)
    expect(env.SLIPWAY_HOST).toBe('127.0.0.1')
    expect(env.LOG_LEVEL).toBe('info')
  })

  it('names each missing variable', () => {
    expect(issuesOf({})).toEqual([
      'DATABASE_URL: required',
      'REDIS_URL: required',
      'SLIPWAY_SECRET_KEYS: required',
    ])
  })

  it('rejects a port out of range and a non-numeric one', () => {
    expect(issuesOf({ ...valid, SLIPWAY_PORT: '70000' })[0]).toMatch(
      /^SLIPWAY_PORT: .*65535.*\(got "70000"\)$/,
    )
    expect(issuesOf({ ...valid, SLIPWAY_PORT: 'http' })[0]).toMatch(/^SLIPWAY_PORT: /)
  })

  it('rejects a database URL of the wrong kind without echoing it', () => {
    const issues = issuesOf({ ...valid, DATABASE_URL: 'mysql://root:pw@127.0.0.1/slipway' })
    expect(issues).toHaveLength(1)
    expect(issues[0]).toMatch(/^DATABASE_URL: /)
    expect(issues[0]).not.toContain('pw')
  })

  it('explains a malformed secret keyring', () => {
    expect(issuesOf({ ...valid, SLIPWAY_SECRET_KEYS: 'k1:dG9vIHNob3J0' })).toEqual([
      'SLIPWAY_SECRET_KEYS: key "k1" must be 32 bytes of base64 (got 9 bytes)',
    ])
  })

  it('rejects an unknown log level', () => {
    expect(issuesOf({ ...valid, LOG_LEVEL: 'loud' })[0]).toMatch(/^LOG_LEVEL: .*\(got "loud"\)$/)
  })

  it('defaults the public URL to the listen address and trusts no proxy', () => {
    const env = loadApiEnv({ ...valid, SLIPWAY_PORT: '8080' })
    expect(env.SLIPWAY_PUBLIC_URL).toBe('http://127.0.0.1:8080')
    expect(env.SLIPWAY_TRUSTED_PROXIES).toEqual([])
    expect(env.SLIPWAY_SESSION_LIFETIME_HOURS).toBe(168)
    expect(env.SLIPWAY_SESSION_IDLE_HOURS).toBe(24)
    expect(env.SLIPWAY_STREAMS_PER_USER).toBe(20)
    expect(env.SLIPWAY_STREAMS_TOTAL).toBe(1000)
  })

  it('reads trusted proxies as addresses, CIDR ranges and range names', () => {
    const env = loadApiEnv({
      ...valid,
      SLIPWAY_TRUSTED_PROXIES: ' 10.0.0.2, 172.16.0.0/12 ,::1,fd00::/8,loopback',
    })
    expect(env.SLIPWAY_TRUSTED_PROXIES).toEqual(['10.0.0.2', '172.16.0.0/12', '::1', 'fd00::/8', 'loopback'])
  })

  it('names every bad proxy entry and a public URL that is not http(s)', () => {
    const issues = issuesOf({
      ...valid,
      SLIPWAY_TRUSTED_PROXIES: 'proxy.local,10.0.0.0/33',
      SLIPWAY_PUBLIC_URL: 'ftp://slipway.example.com',
    })
    expect(issues).toHaveLength(3)
    expect(issues[0]).toMatch(/^SLIPWAY_PUBLIC_URL: /)
    expect(issues[1]).toMatch(/^SLIPWAY_TRUSTED_PROXIES: "proxy.local" is not an IP address/)
    expect(issues[2]).toMatch(/^SLIPWAY_TRUSTED_PROXIES: "10.0.0.0\/33": the prefix length must be 0..32/)
  })

  it('refuses an idle timeout longer than the session lifetime, and a per-user stream cap above the total', () => {
    expect(
      issuesOf({
        ...valid,
        SLIPWAY_SESSION_LIFETIME_HOURS: '8',
        SLIPWAY_SESSION_IDLE_HOURS: '12',
        SLIPWAY_STREAMS_PER_USER: '50',
        SLIPWAY_STREAMS_TOTAL: '10',
      }),
    ).toEqual([
      'SLIPWAY_SESSION_IDLE_HOURS: must be at most SLIPWAY_SESSION_LIFETIME_HOURS (8) (got "12")',
      'SLIPWAY_STREAMS_PER_USER: must be at most SLIPWAY_STREAMS_TOTAL (10) (got "50")',
    ])
  })
})
