import { type Sample, startLoad } from '@slipway/deploy/testing'

/**
 * The benchmarks' users of a gateway port: 8 clients keeping their connections alive and 2
 * opening one per request, each pausing 80 ms between requests, bounded at 10 minutes.
 */
export function benchClients(port: number) {
  const common = { port, pauseMs: 80, maxRequests: 50_000, maxMs: 600_000 }
  const keptAlive = startLoad({ ...common, concurrency: 8 })
  const perRequest = startLoad({ ...common, concurrency: 2, connections: 'close' })
  return {
    async stop(): Promise<{ keptAlive: Sample[]; perRequest: Sample[] }> {
      return { keptAlive: await keptAlive.stop(), perRequest: await perRequest.stop() }
    },
  }
}
