import { createConnection, type Socket } from 'node:net'
import { AppError, type Logger } from '@slipway/core'
import { AnchorSkipper, tailOf } from './ring.ts'

/** One HAProxy worker process: its pid and start time (pids are reused, the pair is not). */
export interface WorkerIdentity {
  pid: number
  startedSec: number
  /** `<pid>@<startedSec>` */
  key: string
}

export interface RingFollowerHandlers {
  /**
   * The worker that answered and what its ring held when the connection began (oldest
   * first). Called once, before any `onLine`.
   */
  onStart(worker: WorkerIdentity, dump: string[]): void
  /** Each line the ring receives after the dump, in ring order. */
  onLine(line: string): void
  /** The connection ended: `error` names why (HAProxy gone, no such ring, protocol). */
  onEnd(error: AppError | undefined): void
}

/** Parses the `Pid` and `Start_time_sec` of `show info`. */
export function workerIdentity(info: string): WorkerIdentity | undefined {
  const pid = Number(/^Pid: (\d+)$/m.exec(info)?.[1])
  const startedSec = Number(/^Start_time_sec: (\d+)$/m.exec(info)?.[1])
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(startedSec)) return undefined
  return { pid, startedSec, key: `${pid}@${startedSec}` }
}

function unavailable(socket: string, what: string, cause?: unknown): AppError {
  return new AppError('DEPENDENCY_UNAVAILABLE', `HAProxy admin socket ${socket}: ${what}`, {
    cause,
    details: { socket },
  })
}

/**
 * Follows one worker's ring on its own admin-socket connection with one command line,
 *
 *   show info;show events <ring>;show events <ring> -w
 *
 * whose answers come in order, each ended by an empty line: the worker's identity, the
 * ring's content (the dump, a bounded answer), then the ring again followed by every new
 * line. The second dump is aligned on the first one's last lines and skipped, so every ring
 * line reaches the handlers once, with no gap between the dump and the live lines (which a
 * `-n` after a dump would leave). HAProxy closes the connection on `stats timeout` when the
 * ring stays quiet, at a reload for the old worker once it is idle, and when it stops.
 */
export class RingFollower {
  readonly #socket: Socket
  readonly #handlers: RingFollowerHandlers
  readonly #path: string
  #phase: 'info' | 'dump' | 'live' = 'info'
  #info: string[] = []
  #dump: string[] = []
  #skipper: AnchorSkipper | undefined
  #partial = ''
  #ended = false
  #worker: WorkerIdentity | undefined

  readonly #logger: Logger | undefined

  constructor(options: {
    adminSocket: string
    ring: string
    handlers: RingFollowerHandlers
    logger?: Logger
  }) {
    this.#logger = options.logger
    if (!/^[A-Za-z0-9_.-]+$/.test(options.ring))
      throw new AppError('VALIDATION_FAILED', `ring name ${JSON.stringify(options.ring)} is invalid`)
    this.#path = options.adminSocket
    this.#handlers = options.handlers
    const ring = options.ring
    this.#socket = createConnection({ path: options.adminSocket })
    this.#socket.setEncoding('utf8')
    this.#socket.on('connect', () =>
      this.#socket.write(`show info;show events ${ring};show events ${ring} -w\n`),
    )
    this.#socket.on('data', (chunk: string) => this.#receive(chunk))
    this.#socket.on('error', (error: NodeJS.ErrnoException) =>
      this.#end(unavailable(this.#path, `${error.code ?? error.message}; is HAProxy running?`, error)),
    )
    this.#socket.on('close', () =>
      this.#end(this.#phase === 'live' ? undefined : unavailable(this.#path, `closed during ${this.#phase}`)),
    )
  }

  /** The worker, once its identity has been read. */
  get worker(): WorkerIdentity | undefined {
    return this.#worker
  }

  /** Whether the dump has been handed over (new lines now arrive one by one). */
  get live(): boolean {
    return this.#phase === 'live' && !this.#ended
  }

  close(): void {
    this.#socket.destroy()
    this.#end(undefined)
  }

  #receive(chunk: string): void {
    const lines = (this.#partial + chunk).split('\n')
    this.#partial = lines.pop() ?? ''
    for (const line of lines) {
      if (this.#ended) return
      this.#line(line)
    }
  }

  #line(line: string): void {
    if (this.#phase === 'info') {
      if (line !== '') {
        this.#info.push(line)
        return
      }
      const worker = workerIdentity(this.#info.join('\n'))
      if (!worker) {
        this.#fail(`"show info" answered no Pid: ${this.#info.slice(0, 3).join(' | ')}`)
        return
      }
      this.#worker = worker
      this.#phase = 'dump'
      return
    }
    if (this.#phase === 'dump') {
      if (line === 'No such event sink') {
        this.#fail('HAProxy has no ring of that name (see "ring" in its config)')
        return
      }
      if (line !== '') {
        this.#dump.push(line)
        return
      }
      this.#phase = 'live'
      // The second answer starts with the ring again: at most what the dump held (less what
      // was overwritten since), then the new lines.
      this.#skipper = new AnchorSkipper(tailOf(this.#dump), this.#dump.length)
      const dump = this.#dump
      this.#dump = []
      this.#handlers.onStart(this.#worker as WorkerIdentity, dump)
      return
    }
    if (line === '') return
    const skipper = this.#skipper
    if (skipper) {
      if (!skipper.feed(line)) return
      this.#skipper = undefined
      if (skipper.gaveUp)
        this.#logger?.warn(
          { worker: this.#worker?.key, skipped: skipper.skipped },
          'traffic ring: the second dump never reached the end of the first (the ring wrapped); lines in between are lost',
        )
    }
    this.#handlers.onLine(line)
  }

  #fail(what: string): void {
    this.#socket.destroy()
    this.#end(unavailable(this.#path, what))
  }

  #end(error: AppError | undefined): void {
    if (this.#ended) return
    this.#ended = true
    this.#handlers.onEnd(error)
  }
}

/**
 * One command on its own admin-socket connection; the whole answer (HAProxy closes the
 * connection after it). Bounded by `timeoutMs`.
 */
export function adminCommand(adminSocket: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: string[] = []
    const connection = createConnection({ path: adminSocket })
    connection.setEncoding('utf8')
    const timer = setTimeout(() => {
      connection.destroy()
      reject(
        new AppError('TIMEOUT', `HAProxy "${command}" on ${adminSocket}: no answer within ${timeoutMs} ms`),
      )
    }, timeoutMs)
    connection.on('connect', () => connection.end(`${command}\n`))
    connection.on('data', (chunk: string) => chunks.push(chunk))
    connection.on('end', () => {
      clearTimeout(timer)
      resolve(chunks.join(''))
    })
    connection.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(
        unavailable(adminSocket, `"${command}": ${error.code ?? error.message}; is HAProxy running?`, error),
      )
    })
  })
}
