import http from 'node:http'
import { addressWithPort, type Instance } from '@slipway/contracts'
import type { DeployHost, TrafficSwitch } from '@slipway/deploy'
import { demoApp } from '@slipway/deploy/testing'
import type { NetworkMode, RegistryAuth } from '@slipway/docker'
import { type Cost, metered } from './cpu.ts'

const now = () => performance.now()

/** Polls GET /healthz at the host's address every 25 ms until it answers 2xx (bounded). */
async function healthyAt(address: string, port: number, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const request = http.get(
        { host: address, port, path: '/healthz', agent: false, timeout: 1000 },
        (r) => {
          r.resume()
          resolve(r.statusCode ?? 0)
        },
      )
      request.on('timeout', () => request.destroy())
      request.on('error', () => resolve(0))
    })
    if (status >= 200 && status < 400) return
    if (Date.now() > deadline)
      throw new Error(`${addressWithPort(address, port)} not healthy within ${limitMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Removes `image` from every host (it must not be in use), so the next pull is a real one. */
export async function makeAbsent(hosts: readonly DeployHost[], image: string): Promise<void> {
  await Promise.all(hosts.map((h) => h.driver.removeImage(image)))
}

/** (b) part 1: raw parallel pulls on every host; the slowest one counts. */
export async function rawPulls(
  hosts: readonly DeployHost[],
  image: string,
  auth: RegistryAuth,
): Promise<number> {
  const times = await Promise.all(
    hosts.map(async (h) => {
      const t = now()
      await h.driver.pull(image, auth)
      return now() - t
    }),
  )
  return Math.max(...times)
}

/** (b) part 2, medians over the samples: one raw batch started, and then stopped and removed. */
export interface RawBatch {
  /** Wall time from the batch's start until every container answered /healthz. */
  ms: number
  /** CPU time the machine spent meanwhile. */
  cpuMs: number
  /** Wall time to stop (grace period as the demo's) and remove the batch's containers. */
  stopMs: number
  stopCpuMs: number
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN

/**
 * (b) part 2: one batch with raw Docker calls: `size` containers started at once on the
 * hosts in turn (as the planner places them), on `network`, until each answers /healthz; then stopped and
 * removed (not part of the lower bound, measured to show what retiring costs).
 */
export async function rawBatch(
  hosts: readonly DeployHost[],
  image: string,
  size: number,
  samples: number,
  labels: Record<string, string>,
  network: NetworkMode,
): Promise<RawBatch> {
  const starts: Cost[] = []
  const stops: Cost[] = []
  for (let sample = 0; sample < samples; sample++) {
    const started = await metered(() =>
      Promise.all(
        Array.from({ length: size }, async (_, i) => {
          const host = hosts[i % hosts.length] as DeployHost
          const info = await host.driver.run({
            name: `bench-raw-${Date.now().toString(36)}-${sample}-${i}`,
            image,
            labels,
            containerPort: demoApp.containerPort,
            // Bridge: Docker chooses. Host: a random port of the range Slipway leases from,
            // without the lease (the lower bound leaves PostgreSQL out).
            hostPort: network === 'host' ? 20_000 + Math.floor(Math.random() * 12_768) : undefined,
            network,
            stopGraceSeconds: demoApp.stopGraceSeconds,
            restartPolicy: 'unless-stopped',
            memoryBytes: (demoApp.resources.memoryMb ?? 64) * 1024 * 1024,
          })
          await healthyAt(host.address, info.hostPort ?? 0)
          return { host, id: info.id }
        }),
      ),
    )
    starts.push(started.cost)
    const stopped = await metered(() =>
      Promise.all(
        started.value.map(({ host, id }) =>
          host.driver.stop(id, demoApp.stopGraceSeconds).then(() => host.driver.remove(id)),
        ),
      ),
    )
    stops.push(stopped.cost)
  }
  return {
    ms: median(starts.map((c) => c.ms)),
    cpuMs: median(starts.map((c) => c.machineCpuMs)),
    stopMs: median(stops.map((c) => c.ms)),
    stopCpuMs: median(stops.map((c) => c.machineCpuMs)),
  }
}

export interface ArticleFleet {
  instances: { host: DeployHost; name: string; port: number; instance: Instance }[]
}

/** The article's starting point: `count` containers of `image` on fixed ports, in the gateway. */
export async function articleSetup(
  hosts: readonly DeployHost[],
  count: number,
  image: string,
  site: { project: string; environment: string; release: string },
  labels: Record<string, string>,
  traffic: TrafficSwitch,
): Promise<ArticleFleet> {
  const instances = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const host = hosts[i % hosts.length] as DeployHost
      const name = `${site.project}-article-${i}`
      const info = await host.driver.run(articleRun(name, image, undefined, site, labels))
      const port = info.hostPort ?? 0
      const instance: Instance = {
        id: `article-${i}`,
        ...site,
        image,
        host: host.name,
        address: host.address,
        port,
        containerId: info.id,
      }
      await healthyAt(host.address, port)
      await traffic.add(instance, AbortSignal.timeout(60_000))
      return { host, name, port, instance }
    }),
  )
  return { instances }
}

function articleRun(
  name: string,
  image: string,
  /** Docker chooses the first time; the loop runs the new container on the same port. */
  hostPort: number | undefined,
  site: { project: string; environment: string },
  labels: Record<string, string>,
) {
  return {
    name,
    image,
    env: { ENVT: site.environment, PROJ: site.project },
    labels,
    containerPort: demoApp.containerPort,
    hostPort,
    restartPolicy: 'always' as const,
    stopGraceSeconds: demoApp.stopGraceSeconds,
    memoryBytes: (demoApp.resources.memoryMb ?? 64) * 1024 * 1024,
  }
}

/**
 * (c) Article 000's original loop, single-threaded, one host after another: pull the new
 * image, then for each container on that host `docker stop && docker rm`, then `docker run`
 * the new image under the same name and port. No health check, no gateway change.
 */
export async function articleLoop(
  hosts: readonly DeployHost[],
  fleet: ArticleFleet,
  image: string,
  site: { project: string; environment: string },
  labels: Record<string, string>,
  auth: RegistryAuth,
): Promise<ArticlePhases> {
  const phases: ArticlePhases = { pullMs: 0, stopMs: 0, removeMs: 0, runMs: 0 }
  const timed = async <T>(phase: keyof ArticlePhases, work: Promise<T>): Promise<T> => {
    const t = now()
    try {
      return await work
    } finally {
      phases[phase] += now() - t
    }
  }
  for (const host of hosts) {
    await timed('pullMs', host.driver.pull(image, auth))
    for (const entry of fleet.instances.filter((e) => e.host === host)) {
      const current = await host.driver.inspect(entry.name)
      if (current) {
        await timed('stopMs', host.driver.stop(current.id, demoApp.stopGraceSeconds))
        await timed('removeMs', host.driver.remove(current.id))
      }
      await timed('runMs', host.driver.run(articleRun(entry.name, image, entry.port, site, labels)))
    }
  }
  return phases
}

/** Where the article loop's time went (sums over hosts and containers). */
export interface ArticlePhases {
  pullMs: number
  stopMs: number
  removeMs: number
  runMs: number
}

/** Takes the article's containers out of the gateway and removes them. */
export async function articleTeardown(fleet: ArticleFleet, traffic: TrafficSwitch): Promise<void> {
  await Promise.all(
    fleet.instances.map(async (entry) => {
      await traffic.remove(entry.instance, AbortSignal.timeout(60_000))
      const current = await entry.host.driver.inspect(entry.name)
      if (current) await entry.host.driver.remove(current.id)
    }),
  )
}
