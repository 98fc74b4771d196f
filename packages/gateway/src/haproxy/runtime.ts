import { createConnection } from 'node:net'
import { AppError } from '@slipway/core'
import { serverTarget } from './render.ts'

export interface CliOptions {
  signal?: AbortSignal
  /** Default 5 s. */
  timeoutMs?: number
}

/**
 * Sends one command to a HAProxy CLI socket (the Runtime API or the master CLI) on its own
 * connection and resolves with the whole answer (HAProxy closes the connection after it).
 */
export function cliCommand(socket: string, command: string, options: CliOptions = {}): Promise<string> {
  if (/[\n\r;]/.test(command))
    return Promise.reject(
      new AppError('VALIDATION_FAILED', `a HAProxy command is one line: ${JSON.stringify(command)}`),
    )
  const timeoutMs = options.timeoutMs ?? 5000
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted)
      return reject(
        new AppError('CANCELED', `haproxy "${command}": canceled`, { cause: options.signal.reason }),
      )
    const chunks: Buffer[] = []
    const connection = createConnection({ path: socket })
    const finish = (error?: AppError) => {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      connection.destroy()
      if (error) reject(error)
      else resolve(Buffer.concat(chunks).toString('utf8'))
    }
    const onAbort = () =>
      finish(new AppError('CANCELED', `haproxy "${command}": canceled`, { cause: options.signal?.reason }))
    const timer = setTimeout(
      () =>
        finish(
          new AppError('TIMEOUT', `haproxy "${command}" on ${socket}: no answer within ${timeoutMs} ms`),
        ),
      timeoutMs,
    )
    options.signal?.addEventListener('abort', onAbort, { once: true })
    connection.on('connect', () => connection.end(`${command}\n`))
    connection.on('data', (chunk: Buffer) => chunks.push(chunk))
    connection.on('end', () => finish())
    connection.on('error', (error: NodeJS.ErrnoException) =>
      finish(
        new AppError(
          'DEPENDENCY_UNAVAILABLE',
          `haproxy "${command}": ${socket} does not answer (${error.code ?? error.message}); is HAProxy running?`,
          { cause: error, details: { command, socket } },
        ),
      ),
    )
  })
}

/** One row of `show servers state <backend>`. */
export interface ServerState {
  name: string
  address: string
  port: number
  /** 0 stopped, 1 starting, 2 running, 3 stopping. */
  operational: number
  /** Bit field: 0x01 forced maintenance, 0x08 forced drain (0: ready). */
  admin: number
  /** The weight set by config or the Runtime API (`srv_uweight`). */
  weight: number
}

export const adminMaint = 0x01
export const adminDrain = 0x08

/** What the master CLI says of its processes (`show proc`). */
export interface ProcessTable {
  master: number
  /** Reloads since start (failed ones included). */
  reloads: number
  /** Failed reloads since the last one that worked: > 0 means the last reload failed. */
  failed: number
  /** The worker serving new connections (none while a reload is under way). */
  workers: number[]
  /** Workers of earlier configs, finishing their connections. */
  oldWorkers: number[]
}

/**
 * The Runtime API of one HAProxy (`admin.sock`, level admin) and its master CLI
 * (`master.sock`). Every command that changes something checks HAProxy's answer against the
 * documented success text; any other answer is a DEPENDENCY_UNAVAILABLE naming the command
 * and the answer.
 */
export class HaproxyRuntime {
  readonly adminSocket: string
  readonly masterSocket: string
  readonly #timeoutMs: number

  constructor(sockets: { adminSocket: string; masterSocket: string }, options: { timeoutMs?: number } = {}) {
    this.adminSocket = sockets.adminSocket
    this.masterSocket = sockets.masterSocket
    this.#timeoutMs = options.timeoutMs ?? 5000
  }

  /** One command on the Runtime API; the raw answer. */
  admin(command: string, signal?: AbortSignal): Promise<string> {
    return cliCommand(this.adminSocket, command, { signal, timeoutMs: this.#timeoutMs })
  }

  /** One command on the master CLI (`@!<pid> <command>` reaches one worker, old ones too). */
  master(command: string, signal?: AbortSignal): Promise<string> {
    return cliCommand(this.masterSocket, command, { signal, timeoutMs: this.#timeoutMs })
  }

  async addServer(
    backend: string,
    name: string,
    address: string,
    port: number,
    signal?: AbortSignal,
    weight?: number,
  ) {
    await this.#expect(
      `add server ${backend}/${name} ${serverTarget(address, port)}${weight === undefined ? '' : ` weight ${weight}`}`,
      /^New server registered\.$/,
      signal,
    )
  }

  /**
   * Has HAProxy compute the dynamic cookie of every server of the backend (the same value for
   * those that had one): HAProxy 2.6 gives none to a server added at runtime.
   */
  async enableDynamicCookies(backend: string, signal?: AbortSignal) {
    await this.#expect(`enable dynamic-cookie backend ${backend}`, /^$/, signal)
  }

  async enableServer(backend: string, name: string, signal?: AbortSignal) {
    await this.#expect(`enable server ${backend}/${name}`, /^$/, signal)
  }

  async setState(backend: string, name: string, state: 'ready' | 'drain' | 'maint', signal?: AbortSignal) {
    await this.#expect(`set server ${backend}/${name} state ${state}`, /^$/, signal)
  }

  async setWeight(backend: string, name: string, weight: number, signal?: AbortSignal) {
    await this.#expect(`set server ${backend}/${name} weight ${weight}`, /^$/, signal)
  }

  async setAddress(backend: string, name: string, address: string, port: number, signal?: AbortSignal) {
    await this.#expect(
      `set server ${backend}/${name} addr ${address} port ${port}`,
      /^(IP changed from|no need to change the addr)/,
      signal,
    )
  }

  async shutdownSessions(backend: string, name: string, signal?: AbortSignal) {
    await this.#expect(`shutdown sessions server ${backend}/${name}`, /^$/, signal)
  }

  async deleteServer(backend: string, name: string, signal?: AbortSignal) {
    await this.#expect(`del server ${backend}/${name}`, /^Server deleted\.$/, signal)
  }

  /** The backend's servers, or undefined when the running config has no such backend. */
  async servers(backend: string, signal?: AbortSignal): Promise<ServerState[] | undefined> {
    const command = `show servers state ${backend}`
    const answer = await this.admin(command, signal)
    if (/^Can't find backend\.?\s*$/.test(answer)) return undefined
    const lines = answer.split('\n').filter((line) => line.trim() !== '')
    const header = lines[1]?.replace(/^#\s*/, '').split(' ')
    if (lines[0] !== '1' || !header?.includes('srv_name')) throw refused(command, answer)
    const column = (row: string[], name: string) => row[header.indexOf(name)] ?? ''
    return lines.slice(2).map((line) => {
      const row = line.split(' ')
      return {
        name: column(row, 'srv_name'),
        address: column(row, 'srv_addr'),
        port: Number(column(row, 'srv_port')),
        operational: Number(column(row, 'srv_op_state')),
        admin: Number(column(row, 'srv_admin_state')),
        weight: Number(column(row, 'srv_uweight')),
      }
    })
  }

  /**
   * The backend's persistence cookie: its name ('' when it has none) and each server's value
   * ('' for none); undefined when the running config has no such backend.
   */
  async cookies(
    backend: string,
    signal?: AbortSignal,
  ): Promise<{ name: string; servers: Map<string, string> } | undefined> {
    const command = `show stat ${backend} -1 -1`
    const answer = await this.admin(command, signal)
    if (/^No such proxy\.\s*$/.test(answer)) return undefined
    const rows = parseStat(command, answer)
    const own = rows.filter((row) => row.get('pxname') === backend)
    const total = own.find((row) => row.get('svname') === 'BACKEND')
    if (!total || !rows[0]?.has('cookie')) throw refused(command, answer)
    const servers = new Map(
      own
        .filter((row) => row.get('svname') !== 'BACKEND' && row.get('svname') !== 'FRONTEND')
        .map((row) => [row.get('svname') ?? '', row.get('cookie') ?? '']),
    )
    return { name: total.get('cookie') ?? '', servers }
  }

  /** Whether the running config has a proxy (frontend or backend) of that name. */
  async hasProxy(name: string, signal?: AbortSignal): Promise<boolean> {
    const command = `show stat ${name} -1 -1`
    const answer = await this.admin(command, signal)
    if (/^No such proxy\.\s*$/.test(answer)) return false
    if (answer.startsWith('# pxname')) return true
    throw refused(command, answer)
  }

  /** The pid of the worker answering the Runtime API. */
  async workerPid(signal?: AbortSignal): Promise<number> {
    const answer = await this.admin('show info', signal)
    const pid = Number(/^Pid: (\d+)$/m.exec(answer)?.[1])
    if (!Number.isInteger(pid) || pid <= 0) throw refused('show info', answer)
    return pid
  }

  /** `show proc` of the master CLI. */
  async processes(signal?: AbortSignal): Promise<ProcessTable> {
    const answer = await this.master('show proc', signal)
    return parseProcessTable(answer)
  }

  /** Seamless reload (`reload` on the master CLI); returns at once, see `processes()`. */
  async reload(signal?: AbortSignal): Promise<void> {
    const answer = await this.master('reload', signal)
    if (answer.trim() !== '') throw refused('reload', answer)
  }

  /**
   * How many requests each server of `backend` holds (current plus queued sessions), summed
   * over every worker. A worker of an earlier config (a reload ago, finishing its kept-alive
   * connections) refuses every server command ("Proxy is disabled."), so a server it still
   * has in service may get one more request there: it counts as busy until that worker exits.
   */
  async sessions(backend: string, signal?: AbortSignal): Promise<Map<string, number>> {
    const table = await this.processes(signal)
    const totals = new Map<string, number>()
    const add = (name: string, count: number) => totals.set(name, (totals.get(name) ?? 0) + count)
    for (const pid of table.workers)
      for (const row of await this.#stat(pid, backend, signal)) add(row.name, row.sessions)
    for (const pid of table.oldWorkers)
      for (const row of await this.#stat(pid, backend, signal))
        add(row.name, row.inService ? Math.max(1, row.sessions) : row.sessions)
    return totals
  }

  async #stat(pid: number, backend: string, signal?: AbortSignal) {
    const command = `@!${pid} show stat ${backend} 4 -1`
    const answer = await this.master(command, signal)
    if (/^No such proxy\.\s*$/.test(answer)) return []
    return parseStat(command, answer).map((row) => ({
      name: row.get('svname') ?? '',
      sessions: Number(row.get('scur') || 0) + Number(row.get('qcur') || 0),
      inService: !/^(DRAIN|MAINT)/.test(row.get('status') ?? ''),
    }))
  }

  async #expect(command: string, success: RegExp, signal?: AbortSignal): Promise<string> {
    const answer = (await this.admin(command, signal)).trim()
    if (!success.test(answer)) throw refused(command, answer)
    return answer
  }
}

function refused(command: string, answer: string): AppError {
  const text = answer.trim().split('\n').slice(0, 5).join(' | ') || '(empty answer)'
  return new AppError('DEPENDENCY_UNAVAILABLE', `HAProxy refused "${command}": ${text}`, {
    details: { command, answer: answer.trim().slice(0, 2000) },
  })
}

function parseProcessTable(answer: string): ProcessTable {
  const table: ProcessTable = { master: 0, reloads: 0, failed: 0, workers: [], oldWorkers: [] }
  let section: 'workers' | 'oldWorkers' | 'other' = 'other'
  for (const line of answer.split('\n')) {
    if (line.startsWith('# workers')) section = 'workers'
    else if (line.startsWith('# old workers')) section = 'oldWorkers'
    else if (line.startsWith('#')) section = 'other'
    const fields = line.trim().split(/\s+/)
    const pid = Number(fields[0])
    if (!/^\d+$/.test(fields[0] ?? '')) continue
    if (fields[1] === 'master') {
      table.master = pid
      table.reloads = Number(fields[2])
      table.failed = Number(/\[failed: (\d+)\]/.exec(line)?.[1] ?? 0)
    } else if (fields[1] === 'worker' && section !== 'other') table[section].push(pid)
  }
  if (!table.master) throw refused('show proc', answer)
  return table
}

function parseStat(command: string, answer: string): Map<string, string>[] {
  const lines = answer.split('\n').filter((line) => line.trim() !== '')
  const header = lines[0]?.startsWith('# ') ? lines[0].slice(2).split(',') : undefined
  if (!header) throw refused(command, answer)
  return lines.slice(1).map((line) => {
    const values = line.split(',')
    return new Map(header.map((name, index) => [name, values[index] ?? '']))
  })
}
