import { EnvError, generateKeySpec } from '@slipway/core'
import { describe, expect, it } from 'vitest'
import { loadWorkerEnv } from './env.ts'

const valid = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/slipway',
  REDIS_URL: 'redis://127.0.0.1:6379',
  SLIPWAY_SECRET_KEYS: generateKeySpec(),
}

function issuesOf(source: Record<string, string | undefined>): string[] {
  try {
    loadWorkerEnv(source)
  } catch (error) {
    if (error instanceof EnvError) return error.issues
    throw error
  }
  return []
}

describe('worker configuration: WORKER_BUILD_GROUPS', () => {
  it('serves every build agent group by default', () => {
    expect(loadWorkerEnv(valid).WORKER_BUILD_GROUPS).toBe('*')
    expect(loadWorkerEnv({ ...valid, WORKER_BUILD_GROUPS: ' * ' }).WORKER_BUILD_GROUPS).toBe('*')
  })

  it('takes a list of group names separated by commas', () => {
    expect(loadWorkerEnv({ ...valid, WORKER_BUILD_GROUPS: 'default, gpu' }).WORKER_BUILD_GROUPS).toEqual([
      'default',
      'gpu',
    ])
  })

  it('names the variable and the bad group', () => {
    expect(issuesOf({ ...valid, WORKER_BUILD_GROUPS: 'default,GPU box' })).toEqual([
      'WORKER_BUILD_GROUPS.1: lower-case letters, digits and dashes, not at either end',
    ])
    expect(issuesOf({ ...valid, WORKER_BUILD_GROUPS: '' })).toContain(
      'WORKER_BUILD_GROUPS.0: Too small: expected string to have >=2 characters',
    )
  })
})

describe('worker configuration: GATEWAY_BIND_ADDRESS', () => {
  it('serves this machine only by default, any IP literal when set', () => {
    expect(loadWorkerEnv(valid).GATEWAY_BIND_ADDRESS).toBe('127.0.0.1')
    expect(loadWorkerEnv({ ...valid, GATEWAY_BIND_ADDRESS: '0.0.0.0' }).GATEWAY_BIND_ADDRESS).toBe('0.0.0.0')
    expect(loadWorkerEnv({ ...valid, GATEWAY_BIND_ADDRESS: '::' }).GATEWAY_BIND_ADDRESS).toBe('::')
  })

  it('names the variable when it is not an address', () => {
    expect(issuesOf({ ...valid, GATEWAY_BIND_ADDRESS: 'gateway.lan' })).toHaveLength(1)
    expect(issuesOf({ ...valid, GATEWAY_BIND_ADDRESS: 'gateway.lan' })[0]).toMatch(/^GATEWAY_BIND_ADDRESS: /)
  })
})
