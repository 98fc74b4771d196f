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
  readonly record: Omit<SecondRecord, 'latency'> = {
    requests: 0,
    ok: 0,
    connection: 0,
    gateway5xx: 0,
    app5xx: 0,
    clientAborts: 0,
    retried: 0,
    byRelease: {},
  }
  readonly latency = new LatencyHistogram()

  add(line: TrafficLine, release: string | undefined): void {
    const outcome = classifyRequest(line)
    const record = this.record
    record.requests++
    if (outcome === 'clientAbort') record.clientAborts++
    else {
      record[outcome]++
      this.latency.add(line.totalMs)
    }
    if (line.retries > 0) record.retried++
    if (line.server !== noServer) {
      const key = release ?? unknownRelease
      record.byRelease[key] = (record.byRelease[key] ?? 0) + 1
    }
  }

  toRecord(): SecondRecord {
    return { ...this.record, byRelease: { ...this.record.byRelease }, latency: this.latency.toPairs() }
  }
}
