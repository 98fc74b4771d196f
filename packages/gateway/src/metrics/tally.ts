import { classifyRequest } from './classify.ts'
import { LatencyHistogram } from './histogram.ts'
import { noServer, type TrafficLine } from './parse.ts'

/** The release key of requests whose server's release the recorder could not tell. */
export const unknownRelease = 'unknown'

/** One site's second as written to its stream (field `d`, JSON). */
export interface SecondRecord {
  requests: number
  ok: number
  connection: number
  gateway5xx: number
  app5xx: number
  clientAborts: number
  retried: number
  /** Requests that reached a server, by release id. */
  byRelease: Record<string, number>
  /** `%Ta` of every request but client aborts (`HistogramPairs`). */
  latency: [number, number][]
}

/** Counts of one site during one second, filled line by line. */
export class SecondTally {
  readonly record: Omit<SecondRecord, 'latency' | 'byRelease'> = {
    requests: 0,
    ok: 0,
    connection: 0,
    gateway5xx: 0,
    app5xx: 0,
    clientAborts: 0,
    retried: 0,
  }
  readonly latency = new LatencyHistogram()
  /** Requests that reached a server, by server (releases are looked up when written). */
  readonly byServer = new Map<string, number>()

  add(line: TrafficLine): void {
    const outcome = classifyRequest(line)
    const record = this.record
    record.requests++
    if (outcome === 'clientAbort') record.clientAborts++
    else {
      record[outcome]++
      this.latency.add(line.totalMs)
    }
    if (line.retries > 0) record.retried++
    if (line.server !== noServer) this.byServer.set(line.server, (this.byServer.get(line.server) ?? 0) + 1)
  }

  servers(): string[] {
    return [...this.byServer.keys()]
  }

  /** The stored form, with each server's requests counted under its release. */
  toRecord(releases: ReadonlyMap<string, string>): SecondRecord {
    const byRelease: Record<string, number> = {}
    for (const [server, count] of this.byServer) {
      const release = releases.get(server) ?? unknownRelease
      byRelease[release] = (byRelease[release] ?? 0) + count
    }
    return { ...this.record, byRelease, latency: this.latency.toPairs() }
  }
}
