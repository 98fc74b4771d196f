import { AppError } from '@slipway/core'
import type { Db } from '@slipway/db'

/**
 * Where host-network instances get their ports: above the well-known and registered ports
 * most hosts' own services use, below the kernel's ephemeral range (32768 by default), from
 * which outgoing connections and Docker's published ports (bridge network) take theirs. So a
 * leased port is never held by a connection or a bridge container of Slipway.
 */
export const hostPortRange = { low: 20_000, high: 32_767 } as const

export interface HostPortLease {
  port: number
  /** The container name of the instance holding it (unique on its host). */
  instance: string
  createdAt: Date
}

export interface HostPortsOptions {
  range?: { low: number; high: number }
  /** Random draws before the free ports are read from the table (default 20). */
  draws?: number
}

/**
 * Host-network ports allocated per Docker host in PostgreSQL (table HostPortLease): Docker
 * cannot see clashes on a host's own network, so Slipway keeps the books. A port is drawn at
 * random in the range and inserted with ON CONFLICT DO NOTHING on (host, port): of two workers
 * drawing the same port one gets it and the other draws again, and nobody sees an error.
 * Structurally `HostPorts` of @slipway/deploy; hosts are named as in the Host table.
 */
export function createHostPorts(db: Db, options: HostPortsOptions = {}) {
  const { low, high } = options.range ?? hostPortRange
  const draws = options.draws ?? 20
  const hostId = async (host: string): Promise<string> => {
    const row = await db.host.findUnique({ where: { name: host }, select: { id: true } })
    if (!row) throw new AppError('NOT_FOUND', `no Docker host ${host} to lease a port on`)
    return row.id
  }
  const take = async (id: string, port: number, instance: string): Promise<boolean> => {
    const { count } = await db.hostPortLease.createMany({
      data: [{ hostId: id, port, instance }],
      skipDuplicates: true,
    })
    return count === 1
  }

  return {
    /**
     * A port of `host` no other instance holds, leased to `instance` (its container name)
     * until released. The instance's own lease is returned again (a retried start).
     */
    async allocate(host: string, instance: string, signal?: AbortSignal): Promise<number> {
      const id = await hostId(host)
      const held = await db.hostPortLease.findFirst({
        where: { hostId: id, instance },
        select: { port: true },
      })
      if (held) return held.port
      for (let draw = 0; draw < draws; draw++) {
        signal?.throwIfAborted()
        const port = low + Math.floor(Math.random() * (high - low + 1))
        if (await take(id, port, instance)) return port
      }
      // A crowded range: draw among the ports free right now (another worker may still win one).
      for (;;) {
        signal?.throwIfAborted()
        const taken = new Set(
          (
            await db.hostPortLease.findMany({
              where: { hostId: id, port: { gte: low, lte: high } },
              select: { port: true },
            })
          ).map((lease) => lease.port),
        )
        const free: number[] = []
        for (let port = low; port <= high; port++) if (!taken.has(port)) free.push(port)
        const port = free[Math.floor(Math.random() * free.length)]
        if (port === undefined)
          throw new AppError('CONFLICT', `every port from ${low} to ${high} of host ${host} is leased`, {
            details: { host },
          })
        if (await take(id, port, instance)) return port
      }
    },

    /** Frees `port` of `host` if `instance` still holds it (a late release frees nothing else). */
    async release(host: string, port: number, instance: string): Promise<void> {
      await db.hostPortLease.deleteMany({ where: { host: { name: host }, port, instance } })
    },

    /** The leases on `host`, for reconcile to free those whose container is gone. */
    async leases(host: string): Promise<HostPortLease[]> {
      return db.hostPortLease.findMany({
        where: { host: { name: host } },
        select: { port: true, instance: true, createdAt: true },
        orderBy: { port: 'asc' },
      })
    },
  }
}
