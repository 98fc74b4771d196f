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
    /**
     * `lan`: also on that address of the fleet LAN, for the machines there, and then with a
     * password for every client (Redis has no per-address trust).
     */
    private readonly options: { persist?: boolean; lan?: { address: string; password: string } } = {},
  ) {}

  get url() {
    const auth = this.options.lan ? `:${encodeURIComponent(this.options.lan.password)}@` : ''
    return `redis://${auth}127.0.0.1:${this.port}`
  }

  /** Redis as the LAN's machines reach it (with `lan` only). */
  get lanUrl() {
    const lan = this.options.lan
    if (!lan) throw new Error('this Redis does not listen on the LAN')
    return `redis://:${encodeURIComponent(lan.password)}@${lan.address}:${this.port}`
  }

  async start() {
    const persistence = this.options.persist
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        ...(this.options.lan ? [this.options.lan.address] : []),
        ...(this.options.lan ? ['--requirepass', this.options.lan.password] : []),
        '--save',
        '',
        ...persistence,
        '--dir',
        this.dir,
      ],
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
