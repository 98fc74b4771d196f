// Test support (not exported from the package): a private HAProxy with the fleet's traffic
// ring and log-format, started and stopped by the test that asks for it.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '@slipway/testing'
import { adminCommand } from './follow.ts'

const run = promisify(execFile)

export interface TestSite {
  project: string
  environment: string
}

export interface PrivateHaproxy {
  dir: string
  adminSocket: string
  masterSocket: string
  /** The listening port of each site (`{project}_{environment}`). */
  ports: Record<string, number>
  admin(command: string): Promise<string>
  /** `add server` + `enable server` through the Runtime API. */
  addServer(site: TestSite, id: string, port: number): Promise<void>
  /** Shuts the Runtime API sessions older than a second down (a recorder's ring connection). */
  closeCliSessions(): Promise<number>
  /** A seamless reload through the master socket; resolves when a new worker answers. */
  reload(): Promise<void>
  /** Stops HAProxy (SIGTERM to its master) and starts it again with the same config. */
  restart(): Promise<void>
  stop(): Promise<void>
}

/** The lines the traffic recorder relies on, as in docker/fleet.sh. */
const ringConfig = ['ring slipway-traffic', '  format raw', '  maxlen 1024', '  size 4194304']
const logConfig = [
  '  log ring@slipway-traffic local0 info',
  '  log-format "%Ts.%ms %b %s %ST %Ta %Tr %tsc %rc"',
]

export async function startHaproxy(sites: readonly TestSite[]): Promise<PrivateHaproxy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'swtr-'))
  const adminSocket = path.join(dir, 'admin.sock')
  const masterSocket = path.join(dir, 'master.sock')
  const pidFile = path.join(dir, 'haproxy.pid')
  const config = path.join(dir, 'haproxy.cfg')
  const ports: Record<string, number> = {}
  const servers = new Map<string, string[]>()
  const head = [
    'global',
    '  master-worker',
    `  stats socket ${adminSocket} mode 600 level admin expose-fd listeners`,
    '  stats timeout 2m',
    '  maxconn 2000',
    ...ringConfig,
    'defaults',
    '  mode http',
    ...logConfig,
    '  timeout connect 1s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 60s',
    '  option http-server-close',
    '  option idle-close-on-response',
    '  option redispatch',
    '  retry-on conn-failure empty-response',
    '  retries 2',
  ]
  for (const site of sites) ports[`${site.project}_${site.environment}`] = await freePort()
  // Like the gateway agent, every runtime change is also written to the config, so a reload
  // serves the same servers.
  const writeConfig = () => {
    const lines = [...head]
    for (const site of sites) {
      const key = `${site.project}_${site.environment}`
      lines.push(
        `frontend fe_${key}`,
        `  bind 127.0.0.1:${ports[key]}`,
        `  default_backend be_${key}`,
        `backend be_${key}`,
        '  balance roundrobin',
        '  http-error status 503 content-type application/json hdr Retry-After 5 string "{}"',
        ...(servers.get(key) ?? []),
      )
    }
    return writeFile(config, `${lines.join('\n')}\n`)
  }
  await writeConfig()
  const admin = (command: string) => adminCommand(adminSocket, command, 5000)
  const workerPid = async () => Number(/^Pid: (\d+)$/m.exec(await admin('show info'))?.[1])
  const launch = async () => {
    await run('haproxy', ['-W', '-D', '-f', config, '-p', pidFile, '-S', masterSocket], { timeout: 10_000 })
    const pid = Number((await readFile(pidFile, 'utf8')).trim().split('\n')[0])
    // Not up yet: the admin socket refuses or is not there.
    await until('HAProxy answers on its admin socket', async () => (await workerPid().catch(() => 0)) > 0)
    return pid
  }
  const terminate = async (pid: number) => {
    process.kill(pid, 'SIGTERM')
    await until('HAProxy exits', async () => !alive(pid))
  }
  let masterPid = await launch()

  return {
    dir,
    adminSocket,
    masterSocket,
    ports,
    admin,
    async addServer(site, id, port) {
      const backend = `be_${site.project}_${site.environment}`
      const added = await admin(`add server ${backend}/${id} 127.0.0.1:${port}`)
      if (!added.includes('New server registered')) throw new Error(`add server ${id}: ${added.trim()}`)
      const enabled = await admin(`enable server ${backend}/${id}`)
      if (enabled.trim() !== '') throw new Error(`enable server ${id}: ${enabled.trim()}`)
      const key = `${site.project}_${site.environment}`
      servers.set(key, [...(servers.get(key) ?? []), `  server ${id} 127.0.0.1:${port}`])
      await writeConfig()
    },
    async closeCliSessions() {
      const sessions = (await admin('show sess'))
        .split('\n')
        .flatMap((line) => /^(0x[0-9a-f]+): proto=unix_stream .*fe=GLOBAL .*age=[1-9]/.exec(line)?.[1] ?? [])
      for (const session of sessions) await admin(`shutdown session ${session}`)
      return sessions.length
    },
    async reload() {
      const before = await workerPid()
      const answer = await adminCommand(masterSocket, 'reload', 5000)
      if (answer.trim() !== '') throw new Error(`reload: ${answer.trim()}`)
      await until('a new HAProxy worker answers', async () => {
        const pid = await workerPid().catch(() => before)
        return pid > 0 && pid !== before
      })
    },
    async restart() {
      await terminate(masterPid)
      masterPid = await launch()
    },
    async stop() {
      try {
        await terminate(masterPid)
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    },
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw error
  }
}

/** Polls `check` every 50 ms for at most 10 s. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
