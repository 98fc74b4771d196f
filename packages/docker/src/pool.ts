import { DockerodeHost, type DockerodeHostOptions } from './dockerode-host.ts'
import type { DockerHost, HostEndpoint } from './types.ts'

export interface HostRecord extends HostEndpoint {
  name: string
}

/**
 * One driver per Docker host, reused across calls (dockerode keeps its HTTP agent). A host
 * whose endpoint, address or TLS material changed gets a new driver.
 */
export class DockerHostPool {
  private readonly drivers = new Map<string, { key: string; driver: DockerHost }>()

  /** `options`: how every driver builds (the docker CLI and the app environment it may use). */
  constructor(private readonly options: DockerodeHostOptions = {}) {}

  get(host: HostRecord): DockerHost {
    const key = JSON.stringify([host.endpoint, host.address, host.tls?.ca, host.tls?.cert, host.tls?.key])
    const cached = this.drivers.get(host.name)
    if (cached?.key === key) return cached.driver
    const driver = new DockerodeHost(host.name, host, this.options)
    this.drivers.set(host.name, { key, driver })
    return driver
  }
}

/** The columns of a stored host the driver needs (structurally the Prisma `Host` row). */
export interface HostRow {
  id: string
  name: string
  endpoint: string
  /** '' for a host stored before addresses existed whose endpoint named none. */
  address: string
  tlsCaPem: string | null
  tlsCertPem: string | null
  tlsKeyEnc: string | null
}

/**
 * Turns a stored host into a driver record; `decryptKey` opens the stored TLS key envelope
 * (the caller holds the key ring and knows the sealing context).
 */
export function hostRecordFromRow(
  row: HostRow,
  decryptKey: (row: HostRow, envelope: string) => string,
): HostRecord {
  const tls =
    row.tlsCaPem || row.tlsCertPem || row.tlsKeyEnc
      ? {
          ca: row.tlsCaPem ?? undefined,
          cert: row.tlsCertPem ?? undefined,
          key: row.tlsKeyEnc ? decryptKey(row, row.tlsKeyEnc) : undefined,
        }
      : undefined
  return { name: row.name, endpoint: row.endpoint, tls, address: row.address || undefined }
}
