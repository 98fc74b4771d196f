import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { secretContext } from '@slipway/db'
import { DockerHostPool, hostRecordFromRow } from '@slipway/docker'
import { createFleetHostRow, integrationTest as test } from '@slipway/testing'
import type { Job } from 'bullmq'
import { describe, expect } from 'vitest'
import { probeHosts } from './probe.ts'

describe('hosts.probe', () => {
  test('records up hosts with their Docker version and down hosts with the reason', async ({ db }) => {
    const box = createSecretBox(parseKeyring(generateKeySpec('test')))
    await createFleetHostRow(db, 'pre-1', box.encrypt)
    await db.host.create({
      data: { name: 'gone-1', endpoint: 'unix:///tmp/slipway-gone.sock', address: '127.0.0.1' },
    })
    const probe = probeHosts({
      db,
      hosts: new DockerHostPool(),
      hostRecord: (row) =>
        hostRecordFromRow(row, (host, envelope) => box.decrypt(envelope, secretContext.hostTlsKey(host.id))),
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
