import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { type FleetTls, fleet } from '@slipway/testing/services'

const run = promisify(execFile)

/** A Docker host this test started itself (another machine on the fleet LAN): a host it may stop. */
export interface ExtraDaemon {
  /** The host's name in the fleet (the name asked for plus a random suffix). */
  name: string
  /** tcp://<address>:2376, mutual TLS with `tls`. */
  endpoint: string
  /** Its address on the fleet LAN. */
  address: string
  tls: FleetTls
  /** The running daemon's pid (a new one after `restart`). */
  pid(): Promise<number>
  /** Stops the daemon by its pid and waits until it is gone (the machine is off; data kept). */
  stop(): Promise<void>
  /** Takes its link onto the fleet LAN down: the daemon runs on, nothing reaches it (a network cut). */
  cut(): Promise<void>
  /** Brings its link up again. */
  mend(): Promise<void>
  /** Starts it again on the same data (images kept, as after a reboot) and waits until it answers. */
  restart(): Promise<void>
  /** Stops it and removes its namespace, link and data. */
  cleanup(): Promise<void>
}

/** `docker/fleet.sh host <verb> <name>`: one owner for what a fleet host is. */
async function fleetHostCommand(verb: 'up' | 'stop' | 'cut' | 'mend' | 'rm', name: string): Promise<string> {
  const script = path.join(fleet().root, 'docker', 'fleet.sh')
  const { stdout } = await run('bash', [script, 'host', verb, name], { timeout: 120_000 })
  return stdout.trim()
}

/**
 * Starts a Docker host like the fleet's (its own network namespace and address on the fleet
 * LAN, dockerd over TCP with mutual TLS, the fleet's base image built on it) and waits until
 * it answers.
 */
export async function startExtraDaemon(name: string): Promise<ExtraDaemon> {
  const fleetName = `${name}-${randomBytes(2).toString('hex')}`
  let endpoint: string
  try {
    endpoint = (await fleetHostCommand('up', fleetName)).split('\n').at(-1) ?? ''
  } catch (error) {
    // A host that did not come up is removed all the same (its dockerd may run already).
    await fleetHostCommand('rm', fleetName).catch((cleanup: unknown) =>
      console.warn(`could not remove the half-started host ${fleetName}:`, cleanup),
    )
    throw error
  }
  const pidFile = path.join(path.dirname(fleet().tlsDir), 'hosts', fleetName, 'docker.pid')
  return {
    name: fleetName,
    endpoint,
    address: new URL(endpoint).hostname,
    tls: fleet().tls,
    pid: async () => Number((await readFile(pidFile, 'utf8')).trim()),
    stop: async () => {
      await fleetHostCommand('stop', fleetName)
    },
    cut: async () => {
      await fleetHostCommand('cut', fleetName)
    },
    mend: async () => {
      await fleetHostCommand('mend', fleetName)
    },
    restart: async () => {
      await fleetHostCommand('up', fleetName)
    },
    cleanup: async () => {
      await fleetHostCommand('mend', fleetName)
      await fleetHostCommand('rm', fleetName)
    },
  }
}

/** The fleet's Docker Swarm (`docker/fleet.sh swarm up`: swarm-1 manages, swarm-2 and swarm-3 work). */
export interface FleetSwarm {
  /** The manager's endpoint, tcp://<address>:2376 with the fleet's TLS. */
  endpoint: string
  tls: FleetTls
  /** Stops a node's dockerd (a machine switched off); `startNode` brings it back on its data. */
  stopNode(name: string): Promise<void>
  startNode(name: string): Promise<void>
}

/** Forms the swarm if it is not up (idempotent; left up for the next file, removed with the fleet). */
export async function fleetSwarm(): Promise<FleetSwarm> {
  const script = path.join(fleet().root, 'docker', 'fleet.sh')
  const { stdout } = await run('bash', [script, 'swarm', 'up'], { timeout: 180_000 })
  return {
    endpoint: stdout.trim().split('\n').at(-1) ?? '',
    tls: fleet().tls,
    stopNode: async (name) => {
      await fleetHostCommand('stop', name)
    },
    startNode: async (name) => {
      await fleetHostCommand('up', name)
    },
  }
}
