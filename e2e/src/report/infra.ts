import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { DockerodeHost } from '@slipway/docker'
import { HaproxyRuntime, haproxyTargetAt, siteNames } from '@slipway/gateway'
import { fleet, fleetHost, freePort } from '@slipway/testing/services'
import type { Demo } from '../client.ts'
import type { Stack } from '../stack.ts'

type Environment = 'pre-release' | 'production'

/** One environment as the hosts, Slipway and the gateway each see it. */
export interface SiteTruth {
  environment: Environment
  replicas: number
  /** The live release's number. */
  live: number | null
  /** Every container labelled for the environment on any fleet host (`id`, or `id (state)` when not running). */
  containers: string[]
  /** `id@address:port` of the instances Slipway lists running, in the gateway, of the live release. */
  instances: string[]
  /** `id@address:port` of every instance Slipway lists running (any release: mid-rollout, old and new). */
  running: string[]
  /** `id@address:port` of the servers the gateway's backend routes to (ready, not draining). */
  gateway: string[]
}

const hostsOf = (environment: Environment) =>
  Object.keys(fleet().hosts).filter((name) =>
    environment === 'production' ? name.startsWith('prod-') : name === 'pre-1',
  )

/** Instance ids of the containers labelled for the environment on its hosts (all states). */
export async function containersOf(demo: Demo, environment: Environment): Promise<string[]> {
  const lists = await Promise.all(
    hostsOf(environment).map((name) =>
      new DockerodeHost(name, fleetHost(name)).list({
        'slipway.project': demo.project.slug,
        'slipway.environment': environment,
      }),
    ),
  )
  return lists
    .flat()
    .map((c) => {
      const id = c.labels['slipway.instance'] ?? c.name
      return c.state === 'running' ? id : `${id} (${c.state})`
    })
    .sort()
}

export async function siteTruth(stack: Stack, demo: Demo, environment: Environment): Promise<SiteTruth> {
  const route = `/api/projects/${demo.project.slug}/environments/${environment}`
  const [env, releases, listed, containers] = await Promise.all([
    demo.admin.get(route),
    demo.admin.get(`${route}/releases`),
    demo.admin.get(`${route}/instances`),
    containersOf(demo, environment),
  ])
  const live = (releases.body as { status: string; number: number }[]).find((r) => r.status === 'live')
  const rows = (
    listed.body.instances as {
      id: string
      address: string
      port: number
      state: string
      inGateway: boolean
      release: { number: number | null }
    }[]
  ).filter((i) => i.state === 'running')
  const target = (i: { id: string; address: string; port: number }) => `${i.id}@${i.address}:${i.port}`
  const running = rows.map(target).sort()
  const instances = rows
    .filter((i) => i.inGateway && i.release.number === live?.number)
    .map(target)
    .sort()
  const { backend } = siteNames(demo.project.slug, environment, demo.gatewayPorts[environment])
  const servers = await new HaproxyRuntime(haproxyTargetAt(stack.gatewayDir)).servers(backend)
  const gateway = (servers ?? [])
    .filter((s) => s.admin === 0)
    .map((s) => `${s.name}@${s.address}:${s.port}`)
    .sort()
  return {
    environment,
    replicas: env.body.replicas,
    live: live?.number ?? null,
    containers,
    instances,
    running,
    gateway,
  }
}

const idOf = (target: string) => target.split('@')[0]

/**
 * Waits (at most `ms`) until the environment is whole: exactly `replicas` containers on its
 * hosts, all running, all instances of the live release in the gateway, and the gateway
 * routing to exactly those (no orphan container, no dead or extra server). Throws with the
 * last view otherwise.
 */
export async function expectWhole(
  stack: Stack,
  demo: Demo,
  environment: Environment,
  ms = 30_000,
): Promise<SiteTruth> {
  const deadline = Date.now() + ms
  for (;;) {
    const truth = await siteTruth(stack, demo, environment)
    const ids = truth.instances.map(idOf)
    const whole =
      truth.instances.length === truth.replicas &&
      JSON.stringify(truth.containers) === JSON.stringify(ids) &&
      JSON.stringify(truth.gateway) === JSON.stringify(truth.instances)
    if (whole) return truth
    if (Date.now() > deadline)
      throw new Error(`${environment} is not whole after ${ms} ms: ${JSON.stringify(truth)}`)
    await sleep(500)
  }
}

/**
 * A TCP relay of this test alone on the fleet LAN in front of the fleet's registry, which
 * the hosts trust (the registry's certificate names the LAN address, not the port): taking
 * the relay down makes "the registry" unreachable for this test's pulls only. The hosts
 * trust it through a `certs.d/<address:port>` entry beside the fleet registry's (each host's
 * certs.d is bind-mounted in its mount namespace), removed again by `remove()`.
 */
export class RegistryRelay {
  #server: net.Server | undefined
  readonly #sockets = new Set<net.Socket>()

  private constructor(
    readonly address: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `${this.address}:${this.port}`
  }

  static async start(): Promise<RegistryRelay> {
    const [address] = fleet().registry.url.split(':')
    if (!address) throw new Error(`no address in ${fleet().registry.url}`)
    const relay = new RegistryRelay(address, await freePort())
    for (const dir of relay.#trustDirs()) {
      await mkdir(dir, { recursive: true })
      await copyFile(path.join(fleet().tlsDir, 'ca.pem'), path.join(dir, 'ca.crt'))
    }
    await relay.up()
    return relay
  }

  async up(): Promise<void> {
    const [, upstreamPort] = fleet().registry.url.split(':')
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(upstreamPort), this.address)
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket)
        socket.on('close', () => this.#sockets.delete(socket))
        // A reset on either side ends both (the peer sees the connection drop, as with a real registry).
        socket.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream).pipe(client)
    })
    server.listen(this.port, this.address)
    await once(server, 'listening')
    this.#server = server
  }

  /** Unreachable from now on: no listener (connection refused) and every open connection cut. */
  async down(): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    const closed = once(server, 'close')
    server.close()
    for (const socket of this.#sockets) socket.destroy()
    await closed
  }

  async remove(): Promise<void> {
    await this.down()
    for (const dir of this.#trustDirs()) await rm(dir, { recursive: true, force: true })
  }

  #trustDirs(): string[] {
    const state = path.dirname(fleet().tlsDir)
    return Object.keys(fleet().hosts).map((name) => path.join(state, 'hosts', name, 'certs.d', this.url))
  }
}

const run = promisify(execFile)

/**
 * SIGKILLs the HAProxy worker of a gateway folder (the process that serves) and waits until
 * the master is gone too (it ends on a worker's failure: `exit-on-failure`). Returns the pids.
 */
export async function killGateway(dir: string): Promise<{ master: number; workers: number[] }> {
  const master = Number((await readFile(haproxyTargetAt(dir).pidFile, 'utf8')).trim())
  const { stdout } = await run('pgrep', ['-P', String(master)])
  const workers = stdout.split('\n').filter(Boolean).map(Number)
  for (const worker of workers) process.kill(worker, 'SIGKILL')
  const deadline = Date.now() + 10_000
  // The master is a child of this process (the stack started it): gone once reaped.
  while (existsSync(`/proc/${master}`)) {
    if (Date.now() > deadline) throw new Error(`the HAProxy master ${master} outlived its worker by 10 s`)
    await sleep(20)
  }
  return { master, workers }
}
