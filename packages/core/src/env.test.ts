import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { EnvError, gitEnvOf, parseEnv } from './env.ts'

const schema = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  REDIS_URL: z.url(),
  API_SECRET_KEY: z.string().min(10),
})

describe('parseEnv', () => {
  it('coerces and defaults', () => {
    expect(parseEnv(schema, { REDIS_URL: 'redis://127.0.0.1:6379', API_SECRET_KEY: 'x'.repeat(10) })).toEqual(
      {
        PORT: 3000,
        REDIS_URL: 'redis://127.0.0.1:6379',
        API_SECRET_KEY: 'x'.repeat(10),
      },
    )
  })

  it('names every bad variable at once', () => {
    try {
      parseEnv(schema, { PORT: 'eighty', API_SECRET_KEY: 'short' })
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(EnvError)
      const issues = (error as EnvError).issues
      expect(issues).toHaveLength(3)
      expect(issues[0]).toMatch(/^PORT: .*\(got "eighty"\)$/)
      expect(issues[1]).toBe('REDIS_URL: required')
      expect(issues[2]).toMatch(/^API_SECRET_KEY: /)
    }
  })

  it('never echoes the value of a secret-looking variable', () => {
    expect(() => parseEnv(schema, { REDIS_URL: 'redis://x', API_SECRET_KEY: 'tooshort' })).toThrow(EnvError)
    try {
      parseEnv(schema, { REDIS_URL: 'redis://x', API_SECRET_KEY: 'tooshort' })
    } catch (error) {
      expect((error as Error).message).not.toContain('tooshort')
    }
  })
})

describe('gitEnvOf', () => {
  it('hands git what it needs and nothing of the secrets', () => {
    const source = {
      PATH: '/usr/bin:/bin',
      HOME: '/home/slipway',
      SSH_AUTH_SOCK: '/run/agent.sock',
      HTTPS_PROXY: 'http://proxy:3128',
      no_proxy: 'localhost',
      GIT_SSL_CAINFO: '/etc/ca.pem',
      SSL_CERT_FILE: '/etc/ssl/cert.pem',
      SLIPWAY_SECRET_KEYS: 'k1:secret',
      DATABASE_URL: 'postgres://u:p@db/slipway',
      REDIS_URL: 'redis://:p@redis',
      UNSET: undefined,
    }
    expect(gitEnvOf(source)).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/home/slipway',
      SSH_AUTH_SOCK: '/run/agent.sock',
      HTTPS_PROXY: 'http://proxy:3128',
      no_proxy: 'localhost',
      GIT_SSL_CAINFO: '/etc/ca.pem',
      SSL_CERT_FILE: '/etc/ssl/cert.pem',
    })
  })
})
