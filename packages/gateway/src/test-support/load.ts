import { Worker } from 'node:worker_threads'

/** One request of a load run: wall-clock start and end (ms since epoch), status, body. */
interface Sample {
  start: number
  end: number
  status: number
  body: string
}

export interface LoadOptions {
  port: number
  path?: string
  /** Requests in flight at once. */
  concurrency: number
  /** Hard bounds: the loop ends at whichever comes first (or at `stop()`). */
  maxRequests: number
  maxMs: number
}

export interface LoadRun {
  /** Requests finished so far (updated every ~100 ms). */
  done(): number
  /** Ends the loop and returns every sample. */
  stop(): Promise<Sample[]>
}

// Runs on its own thread (its own event loop), so the load does not wait on the test's work.
// Every request uses a fresh connection, as new clients would, and failures are recorded as
// status 0 with the error message.
const loadLoop = `
const { parentPort, workerData } = require('node:worker_threads')
const http = require('node:http')
const { port, path, concurrency, maxRequests, maxMs } = workerData
const now = () => performance.timeOrigin + performance.now()
const samples = []
let stopped = false
let issued = 0
parentPort.on('message', () => { stopped = true })
const timer = setInterval(() => parentPort.postMessage({ done: samples.length }), 100)
function one() {
  return new Promise((resolve) => {
    const start = now()
    const fail = (error) => resolve({ start, end: now(), status: 0, body: String(error && error.message) })
    const request = http.get(
      { host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' }, timeout: 10000 },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk) => { body += chunk })
        response.on('end', () => resolve({ start, end: now(), status: response.statusCode, body: body.trim() }))
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
  }
}
const startedAt = now()
Promise.all(Array.from({ length: concurrency }, () => lane(startedAt))).then(() => {
  clearInterval(timer)
  parentPort.postMessage({ samples })
})
`

/** Continuous GET load from a second thread, bounded in count and time. */
export function startLoad(options: LoadOptions): LoadRun {
  const worker = new Worker(loadLoop, { eval: true, workerData: { path: '/', ...options } })
  let done = 0
  const finished = new Promise<Sample[]>((resolve, reject) => {
    worker.on('message', (message: { done?: number; samples?: Sample[] }) => {
      if (message.done !== undefined) done = message.done
      if (message.samples) resolve(message.samples)
    })
    worker.on('error', reject)
    worker.on('exit', (code) => reject(new Error(`load worker exited with ${code} before reporting`)))
  })
  return {
    done: () => done,
    async stop() {
      worker.postMessage('stop')
      const samples = await finished
      await worker.terminate()
      return samples
    },
  }
}
