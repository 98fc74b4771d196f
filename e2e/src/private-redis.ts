import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { eventually } from './client.ts'

/**
 * A Redis of one test alone, so it can be killed or restarted without touching others.
 * `persist`: an append-only file (fsync on every write) in `dir`, so a clean stop keeps
 * the data and the next start loads it; without it a restart comes back empty.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined
  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly options: { persist?: boolean } = {},
  ) {}

  get url() {
    return `redis://127.0.0.1:${this.port}`
  }

  async start() {
    const persistence = this.options.persist
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', this.dir],
      { stdio: 'ignore' },
    )
    await eventually('redis', async () => {
      const socket = connect(this.port, '127.0.0.1')
      return new Promise<true | undefined>((resolve) => {
        socket.once('connect', () => {
          socket.destroy()
          resolve(true)
        })
        socket.once('error', () => resolve(undefined))
      })
    })
  }

  /** kill -9: what was not persisted is gone (everything, without `persist`). */
  crash() {
    return this.stopWith('SIGKILL')
  }

  /** SIGTERM: a clean shutdown (with `persist`, the data is on disk for the next start). */
  stop() {
    return this.stopWith('SIGTERM')
  }

  private async stopWith(signal: NodeJS.Signals) {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill(signal)
    await exited
  }
}
