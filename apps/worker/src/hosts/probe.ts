import { errorMessage } from '@slipway/core'
import type { Db } from '@slipway/db'
import type { DockerHostPool, HostRecord, HostRow } from '@slipway/docker'
import type { Processor } from '../runtime.ts'

export interface ProbeDeps {
  db: Db
  hosts: DockerHostPool
  hostRecord(row: HostRow): HostRecord
}

/** Asks every registered Docker host for its version and records up/down on its row. */
export function probeHosts(deps: ProbeDeps): Processor<'hosts.probe'> {
  return async (_payload, { signal, log }) => {
    const rows = await deps.db.host.findMany()
    const results = await Promise.all(
      rows.map(async (row) => {
        const probedAt = new Date()
        try {
          const { version } = await deps.hosts
            .get(deps.hostRecord(row))
            .version({ signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) })
          await deps.db.host.update({
            where: { id: row.id },
            data: {
              status: 'up',
              lastProbeAt: probedAt,
              lastSeenAt: probedAt,
              lastError: null,
              dockerVersion: version,
            },
          })
          return { host: row.name, up: true }
        } catch (error) {
          const message = errorMessage(error)
          if (row.status !== 'down') log.warn({ host: row.name, error: message }, 'Docker host is down')
          await deps.db.host.update({
            where: { id: row.id },
            data: { status: 'down', lastProbeAt: probedAt, lastError: message },
          })
          return { host: row.name, up: false }
        }
      }),
    )
    return { up: results.filter((r) => r.up).length, down: results.filter((r) => !r.up).length }
  }
}
