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
  /**
   * What each release's servers answered (a canary's figures per version): requests, errors
   * (connection errors and 5xx) and `%Ta` of all but client aborts. Absent in records written
   * before it was recorded.
   */
  releases?: Record<string, ReleaseSecond>
  /** `%Ta` of every request but client aborts (`HistogramPairs`). */
  latency: [number, number][]
}

interface ReleaseSecond {
  requests: number
  errors: number
  latency: [number, number][]
}

/** One server's share of a second. */
interface ServerSecond {
  requests: number
  errors: number
  latency: LatencyHistogram
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
  readonly byServer = new Map<string, ServerSecond>()

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
    if (line.server === noServer) return
    let server = this.byServer.get(line.server)
    if (!server) {
      server = { requests: 0, errors: 0, latency: new LatencyHistogram() }
      this.byServer.set(line.server, server)
    }
    server.requests++
    if (outcome === 'connection' || outcome === 'gateway5xx' || outcome === 'app5xx') server.errors++
    if (outcome !== 'clientAbort') server.latency.add(line.totalMs)
  }

  servers(): string[] {
    return [...this.byServer.keys()]
  }

  /** The stored form, with each server's requests counted under its release. */
  toRecord(releases: ReadonlyMap<string, string>): SecondRecord {
    const byRelease: Record<string, number> = {}
    const merged = new Map<string, ServerSecond>()
    for (const [server, figures] of this.byServer) {
      const release = releases.get(server) ?? unknownRelease
      byRelease[release] = (byRelease[release] ?? 0) + figures.requests
      const into = merged.get(release) ?? { requests: 0, errors: 0, latency: new LatencyHistogram() }
      into.requests += figures.requests
      into.errors += figures.errors
      into.latency.merge(figures.latency)
      merged.set(release, into)
    }
    const perRelease: Record<string, ReleaseSecond> = {}
    for (const [release, figures] of merged)
      perRelease[release] = {
        requests: figures.requests,
        errors: figures.errors,
        latency: figures.latency.toPairs(),
      }
    return { ...this.record, byRelease, releases: perRelease, latency: this.latency.toPairs() }
  }
}
