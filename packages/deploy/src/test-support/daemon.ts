import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { DockerodeHost } from '@slipway/docker'

const run = promisify(execFile)

/** From docker.io, like the fleet's daemons (a system binary, not a package). */
const dockerdBinary = '/usr/sbin/dockerd'

/** A Docker daemon this test started itself: a host it may stop. */
export interface ExtraDaemon {
  name: string
  /** unix:///tmp/.../docker.sock */
  endpoint: string
  /** The running daemon's pid (a new one after `restart`). */
  readonly pid: number
  dir: string
  /** Stops the daemon by its pid (SIGTERM, SIGKILL after 60 s) and waits until it is gone. */
  stop(): Promise<void>
  /** Starts it again on the same folders (images kept, as after a host reboot) and waits until it answers. */
  restart(): Promise<void>
  /** Stops it if needed, removes its bridge and its folder. */
  cleanup(): Promise<void>
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function freeSubnet(): Promise<string> {
  const { stdout } = await run('ip', ['-4', 'route'])
  for (let attempt = 0; attempt < 50; attempt++) {
    const candidate = `10.251.${1 + Math.floor(Math.random() * 254)}`
    if (!stdout.includes(`${candidate}.`)) return candidate
  }
  throw new Error('no free 10.251.x.0/24 subnet for an extra daemon')
}

/**
 * Starts a dockerd like docker/fleet.sh does (vfs, its own bridge made with `ip link add`,
 * --iptables=false, a short socket path under /tmp) and waits until it answers. Loads the
 * fleet's base image from `baseFrom` when given (`docker save` | `docker load`).
 */
export async function startExtraDaemon(name: string, baseFrom?: string): Promise<ExtraDaemon> {
  const dir = await mkdtemp('/tmp/swx-')
  const bridge = `swx${randomBytes(3).toString('hex')}`
  const subnet = await freeSubnet()
  await run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge'])
  await run('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge])
  await run('ip', ['link', 'set', bridge, 'up'])
  const endpoint = `unix://${dir}/docker.sock`
  const launch = async (): Promise<number> => {
    const log = await open(`${dir}/dockerd.log`, 'a')
    const child = spawn(
      dockerdBinary,
      [
        '--data-root',
        `${dir}/data`,
        '--exec-root',
        `${dir}/exec`,
        '-H',
        endpoint,
        '--pidfile',
        `${dir}/docker.pid`,
        '--storage-driver=vfs',
        '--bridge',
        bridge,
        '--iptables=false',
        '--log-level',
        'warn',
      ],
      { detached: true, stdio: ['ignore', log.fd, log.fd] },
    )
    child.unref()
    await log.close()
    return child.pid ?? 0
  }
  let pid = await launch()
  const stop = async () => {
    if (!alive(pid)) return
    process.kill(pid, 'SIGTERM')
    const deadline = Date.now() + 60_000
    while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
  const answers = async () => {
    const host = new DockerodeHost(name, { endpoint })
    const deadline = Date.now() + 60_000
    for (;;) {
      try {
        await host.ping({ signal: AbortSignal.timeout(2000) })
        return
      } catch (error) {
        if (!alive(pid) || Date.now() > deadline) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }
  const daemon: ExtraDaemon = {
    name,
    endpoint,
    get pid() {
      return pid
    },
    dir,
    stop,
    async restart() {
      await stop()
      pid = await launch()
      await answers()
    },
    async cleanup() {
      await stop()
      await run('ip', ['link', 'del', bridge]).catch(() => undefined)
      await rm(dir, { recursive: true, force: true }).catch(() => undefined)
    },
  }
  try {
    await answers()
    if (baseFrom) {
      const tar = `${dir}/base.tar`
      await run('docker', ['-H', baseFrom, 'save', '-o', tar, 'slipway/busybox:1'])
      await run('docker', ['-H', endpoint, 'load', '-q', '-i', tar])
      await rm(tar)
    }
    return daemon
  } catch (error) {
    await daemon.cleanup()
    throw error
  }
}
