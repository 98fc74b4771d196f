import { createDb } from '@slipway/db'
import { integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { createHostPorts, hostPortRange } from './host-ports.ts'

const addHost = (db: Parameters<typeof createHostPorts>[0], name: string) =>
  db.host.create({ data: { name, endpoint: `tcp://10.9.9.${name.length}:2376`, address: '10.9.9.9' } })

describe('host-network port leases', () => {
  test('two workers allocating at once on one host never hand out a port twice', async ({
    db,
    databaseUrl,
  }) => {
    await addHost(db, 'prod-1')
    // A second worker: its own connection pool on the same database.
    const other = createDb({ url: databaseUrl, poolSize: 5 })
    try {
      // 200 ports for 200 instances: the draws collide often and the last ones are read from the table.
      const range = { low: 40_000, high: 40_199 }
      const workers = [createHostPorts(db, { range }), createHostPorts(other, { range })]
      const ports = await Promise.all(
        Array.from({ length: 200 }, (_, i) => workers[i % 2]!.allocate('prod-1', `site-${i}`)),
      )
      expect(new Set(ports).size).toBe(200)
      for (const port of ports) expect(port).toBeGreaterThanOrEqual(range.low)
      for (const port of ports) expect(port).toBeLessThanOrEqual(range.high)
      expect(await db.hostPortLease.count()).toBe(200)
      // Full: the next one is refused with a conflict naming the host, not a database error.
      await expect(workers[0]!.allocate('prod-1', 'one-more')).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringContaining('prod-1'),
      })
    } finally {
      await other.$disconnect()
    }
  })

  test('many rounds of racing allocations and releases keep every held port unique', async ({
    db,
    databaseUrl,
  }) => {
    await addHost(db, 'prod-1')
    const other = createDb({ url: databaseUrl, poolSize: 5 })
    try {
      const range = { low: 41_000, high: 41_063 }
      const workers = [createHostPorts(db, { range }), createHostPorts(other, { range })]
      for (let round = 0; round < 20; round++) {
        const held = await Promise.all(
          Array.from({ length: 16 }, async (_, i) => ({
            instance: `r${round}-${i}`,
            port: await workers[i % 2]!.allocate('prod-1', `r${round}-${i}`),
          })),
        )
        expect(new Set(held.map((h) => h.port)).size).toBe(16)
        // All but one go: their ports are free for the next round, which draws among them.
        await Promise.all(held.slice(1).map((h) => workers[1]!.release('prod-1', h.port, h.instance)))
        const leases = await workers[0]!.leases('prod-1')
        expect(new Set(leases.map((l) => l.port)).size).toBe(leases.length)
      }
      expect(await db.hostPortLease.count()).toBe(20)
    } finally {
      await other.$disconnect()
    }
  })

  test('a release frees the port for the instance that held it only; a retried start gets its own port back', async ({
    db,
  }) => {
    await addHost(db, 'prod-1')
    // One port: whoever holds it blocks everyone else.
    const ports = createHostPorts(db, { range: { low: 42_000, high: 42_000 } })
    expect(await ports.allocate('prod-1', 'a')).toBe(42_000)
    expect(await ports.allocate('prod-1', 'a')).toBe(42_000)
    await expect(ports.allocate('prod-1', 'b')).rejects.toMatchObject({ code: 'CONFLICT' })
    // A late release by another instance frees nothing.
    await ports.release('prod-1', 42_000, 'b')
    expect((await ports.leases('prod-1')).map((l) => l.instance)).toEqual(['a'])
    await ports.release('prod-1', 42_000, 'a')
    expect(await ports.leases('prod-1')).toEqual([])
    expect(await ports.allocate('prod-1', 'b')).toBe(42_000)
  })

  test('ports are unique per host: two hosts may hold the same one', async ({ db }) => {
    await addHost(db, 'prod-1')
    await addHost(db, 'prod-22')
    const ports = createHostPorts(db, { range: { low: 43_000, high: 43_000 } })
    expect(await ports.allocate('prod-1', 'a')).toBe(43_000)
    expect(await ports.allocate('prod-22', 'a')).toBe(43_000)
    await expect(ports.allocate('nowhere', 'a')).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  test('by default ports come from 20000-32767, below the kernel’s ephemeral range', async ({ db }) => {
    await addHost(db, 'prod-1')
    const ports = createHostPorts(db)
    const given = await Promise.all(Array.from({ length: 50 }, (_, i) => ports.allocate('prod-1', `i${i}`)))
    expect(new Set(given).size).toBe(50)
    for (const port of given) {
      expect(port).toBeGreaterThanOrEqual(hostPortRange.low)
      expect(port).toBeLessThanOrEqual(hostPortRange.high)
    }
  })
})
