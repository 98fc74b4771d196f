import { createLogger } from '@slipway/core'
import { DockerHostPool } from '@slipway/docker'
import { hostEndpoint, integrationTest as test } from '@slipway/testing'
import type { Job } from 'bullmq'
import { describe, expect } from 'vitest'
import { probeHosts } from './probe.ts'

describe('hosts.probe', () => {
  test('records up hosts with their Docker version and down hosts with the reason', async ({ db }) => {
    await db.host.create({ data: { name: 'pre-1', endpoint: hostEndpoint('pre-1') } })
    await db.host.create({ data: { name: 'gone-1', endpoint: 'unix:///tmp/slipway-gone.sock' } })
    const probe = probeHosts({
      db,
      hosts: new DockerHostPool(),
      hostRecord: (row) => ({ name: row.name, endpoint: row.endpoint }),
    })
    const result = await probe(
      {},
      {
        job: {} as Job,
        token: undefined,
        signal: AbortSignal.timeout(10_000),
        log: createLogger({ name: 'test', level: 'silent' }),
      },
    )
    expect(result).toEqual({ up: 1, down: 1 })
    const up = await db.host.findUniqueOrThrow({ where: { name: 'pre-1' } })
    expect(up.status).toBe('up')
    expect(up.dockerVersion).toMatch(/^\d+\.\d+/)
    expect(up.lastSeenAt).toBeInstanceOf(Date)
    const down = await db.host.findUniqueOrThrow({ where: { name: 'gone-1' } })
    expect(down.status).toBe('down')
    expect(down.lastSeenAt).toBeNull()
    expect(down.lastError).toMatch(/gone-1 is unreachable/)
  })
})
