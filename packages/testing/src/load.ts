import { spawn } from 'node:child_process'

/** One request of a load run: wall-clock start and end (ms since epoch), status, body. */
export interface Sample {
  start: number
  end: number
  status: number
  body: string
}

/**
 * `keep-alive` (the default): a pool of `concurrency` connections kept open between requests,
 * as browsers and pooled service clients do; a gateway that closes an idle kept-alive
 * connection under a client fails the request just sent on it. `close`: a new connection
 * per request (`connection: close`), which never sees that.
 */
export type ConnectionMode = 'keep-alive' | 'close'

export interface LoadOptions {
  port: number
  /** Where to send the requests (default 127.0.0.1: the gateway runs on Slipway's machine). */
  host?: string
  path?: string
  /** Requests in flight at once: with keep-alive, also the connections in the pool. Default 8. */
  concurrency?: number
  /** Default keep-alive. */
  connections?: ConnectionMode
  /** Hard bounds: the loop ends at whichever comes first (or at `stop()`). */
  maxRequests: number
  maxMs: number
  /** Pause of each lane between two requests (default 0: a closed loop). */
  pauseMs?: number
}

export interface LoadRun {
  /** Requests finished so far (reported every ~100 ms). */
  done(): number
  /** Ends the loop and returns every sample. */
  stop(): Promise<Sample[]>
  /** Every sample, once the loop ended by its own bounds. */
  finished(): Promise<Sample[]>
}

// A second process with its own event loop and CPU time, as real clients would be (tests
// under load and the rollout benchmark share it). With keep-alive, each lane keeps its
// connection in a pool of `concurrency`; with close, every request opens a fresh connection.
// Failures are status 0 with the error message.
const script = `
const http = require('node:http')
const { host, port, path, concurrency, maxRequests, maxMs, pauseMs, connections } = JSON.parse(process.argv[1])
const keepAlive = connections !== 'close'
const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency, scheduling: 'fifo' }) : false
const headers = keepAlive ? {} : { connection: 'close' }
const now = () => performance.timeOrigin + performance.now()
const samples = []
let stopped = false
let issued = 0
process.stdin.on('data', () => { stopped = true })
const timer = setInterval(() => process.stderr.write('done ' + samples.length + '\\n'), 100)
function one() {
  return new Promise((resolve) => {
    const start = now()
    const fail = (error) => resolve({ start, end: now(), status: 0, body: String(error && error.message) })
    const request = http.get(
      { host, port, path, agent, headers, timeout: 10000 },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk) => { body += chunk })
        response.on('end', () => resolve({ start, end: now(), status: response.statusCode, body: body.trim().slice(0, 200) }))
        response.on('error', fail)
      },
    )
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', fail)
  })
}
async function lane(startedAt) {
  while (!stopped && issued < maxRequests && now() - startedAt < maxMs) {
    issued++
    samples.push(await one())
    if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
}
const startedAt = now()
Promise.all(Array.from({ length: concurrency }, () => lane(startedAt))).then(() => {
  clearInterval(timer)
  if (agent) agent.destroy()
  process.stdout.write(JSON.stringify(samples), () => process.exit(0))
})
`

/** Continuous GET load from a second process, bounded in count and time. */
export function startLoad(options: LoadOptions): LoadRun {
  const child = spawn(
    process.execPath,
    [
      '-e',
      script,
      JSON.stringify({
        host: '127.0.0.1',
        path: '/',
        pauseMs: 0,
        connections: 'keep-alive',
        concurrency: 8,
        ...options,
      }),
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  )
  child.stdin.on('error', () => undefined)
  let done = 0
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    const match = /done (\d+)\n(?![\s\S]*done \d+\n)/.exec(chunk)
    if (match?.[1]) done = Number(match[1])
  })
  const finished = new Promise<Sample[]>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0) resolve(JSON.parse(output) as Sample[])
      else reject(new Error(`load process exited with ${code}`))
    })
  })
  // Never outlive the bound, even if stop() is never called.
  const guard = setTimeout(() => child.kill('SIGKILL'), options.maxMs + 30_000)
  guard.unref()
  return {
    done: () => done,
    async stop() {
      child.stdin.end('stop\n')
      try {
        return await finished
      } finally {
        clearTimeout(guard)
      }
    },
    async finished() {
      try {
        return await finished
      } finally {
        clearTimeout(guard)
      }
    },
  }
}

/** `count` requests from a fresh second process, after whatever happened before (bounded). */
export function requestsNow(port: number, count: number): Promise<Sample[]> {
  return startLoad({ port, concurrency: 2, maxRequests: count, maxMs: 30_000 }).finished()
}

/** Every sample's connection mode in one line, for test names and bench output. */
export const connectionModes: readonly ConnectionMode[] = ['keep-alive', 'close']

/** Failed samples: anything but 200. */
export function failures(samples: readonly Sample[]): Sample[] {
  return samples.filter((sample) => sample.status !== 200)
}
