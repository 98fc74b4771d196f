import { request } from 'node:https'
import { DockerodeHost } from '@slipway/docker'
import { HaproxyRuntime, haproxyTargetAt, siteNames } from '@slipway/gateway'
import { dockerClient, fleet, fleetHost } from '@slipway/testing/services'
import type { Client } from '../client.ts'

/** One container a project has on a fleet host, from its labels: what really runs. */
interface SiteContainer {
  host: string
  id: string
  state: string
  environment: string
  release: string
  instance: string
}

/** Every container labelled with the project on every fleet host, running or not. */
async function projectContainers(project: string): Promise<SiteContainer[]> {
  const perHost = await Promise.all(
    Object.keys(fleet().hosts).map(async (name) => {
      const host = new DockerodeHost(name, fleetHost(name))
      const containers = await host.list({ 'slipway.project': project }, { all: true })
      return containers.map((c) => ({
        host: name,
        id: c.id,
        state: c.state,
        environment: c.labels['slipway.environment'] ?? '',
        release: c.labels['slipway.release'] ?? '',
        instance: c.labels['slipway.instance'] ?? '',
      }))
    }),
  )
  return perHost.flat()
}

interface InstanceRow {
  id: string
  host: string
  address: string
  port: number | null
  state: string
  release: { id: string; number: number | null }
  inGateway: boolean
}

/** The instances Slipway lists for an environment (running and broken). */
async function listedInstances(client: Client, project: string, environment: string) {
  const { body } = await client.get(`/api/projects/${project}/environments/${environment}/instances`)
  return body.instances as InstanceRow[]
}

/** HAProxy's admin state bit of a server in forced maintenance (`show servers state`): not routed to. */
const adminMaint = 0x01

/** `address:port` of every server the gateway's HAProxy routes to for a site (not in maintenance). */
async function routedServers(gatewayDir: string, project: string, environment: string) {
  const runtime = new HaproxyRuntime(haproxyTargetAt(gatewayDir))
  const { backend } = siteNames(project, environment, 1)
  const servers = (await runtime.servers(backend)) ?? []
  return servers
    .filter((server) => (server.admin & adminMaint) === 0)
    .map((server) => `${server.address}:${server.port}`)
    .sort()
}

/**
 * What must hold for an environment once nothing runs on it any more: the containers on the
 * hosts are exactly the running instances Slipway lists, `replicas` of them, all of one
 * release and all in the gateway; the gateway routes to exactly those. Returns what differs
 * (empty: all true).
 */
export async function siteMismatches(
  client: Client,
  gatewayDir: string,
  project: string,
  environment: string,
  replicas: number,
): Promise<string[]> {
  const [containers, listed, routed] = await Promise.all([
    projectContainers(project),
    listedInstances(client, project, environment),
    routedServers(gatewayDir, project, environment),
  ])
  const onHosts = containers.filter((c) => c.environment === environment)
  const problems: string[] = []
  const notRunning = onHosts.filter((c) => c.state !== 'running')
  if (notRunning.length)
    problems.push(`containers not running: ${notRunning.map((c) => `${c.instance}@${c.host} ${c.state}`)}`)
  const running = listed.filter((i) => i.state === 'running')
  const ids = (list: { instance?: string; id: string }[]) => list.map((i) => i.instance ?? i.id).sort()
  if (JSON.stringify(ids(onHosts)) !== JSON.stringify(ids(running)))
    problems.push(`on the hosts ${ids(onHosts)}, listed ${ids(running)}`)
  if (running.length !== replicas) problems.push(`${running.length} instances, not ${replicas}`)
  const releases = new Set(running.map((i) => i.release.id))
  if (releases.size > 1) problems.push(`instances of ${releases.size} releases: ${[...releases]}`)
  if (running.some((i) => !i.inGateway)) problems.push('an instance is not in the discovery registry')
  const expected = running.map((i) => `${i.address}:${i.port}`).sort()
  if (JSON.stringify(routed) !== JSON.stringify(expected))
    problems.push(`the gateway routes to ${routed}, the instances are ${expected}`)
  return problems
}

/** GET on the fleet registry's API (its TLS and credentials): status and JSON body. */
function registryGet(
  route: string,
  accept = 'application/json',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
  const { registry, tls } = fleet()
  const [hostname, port] = registry.url.split(':')
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname,
        port: Number(port),
        path: route,
        method: 'GET',
        ca: tls.ca,
        auth: `${registry.username}:${registry.password}`,
        headers: { accept },
        timeout: 10_000,
      },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          text += chunk
        })
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: text ? JSON.parse(text) : null,
          }),
        )
        response.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`registry GET ${route} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

/** The repository's tags in the fleet registry and the manifest digest each names. */
export async function registryTags(repository: string): Promise<Record<string, string>> {
  const tags = await registryGet(`/v2/${repository}/tags/list`)
  const out: Record<string, string> = {}
  for (const tag of (tags.body?.tags ?? []) as string[]) {
    const manifest = await registryGet(
      `/v2/${repository}/manifests/${tag}`,
      'application/vnd.docker.distribution.manifest.v2+json',
    )
    out[tag] = String(manifest.headers['docker-content-digest'] ?? '')
  }
  return out
}

/** Removes the project's containers and images from every fleet host (the shared fleet stays clean). */
export async function removeProjectFromFleet(project: string, imageRepository: string): Promise<void> {
  for (const container of await projectContainers(project))
    await new DockerodeHost(container.host, fleetHost(container.host)).remove(container.id)
  const prefix = `${fleet().registry.url}/${imageRepository}`
  await Promise.all(
    Object.keys(fleet().hosts).map(async (name) => {
      const docker = dockerClient(name)
      for (const image of await docker.listImages()) {
        const refs = [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])]
        if (refs.some((ref) => ref.startsWith(`${prefix}:`) || ref.startsWith(`${prefix}@`)))
          await docker.getImage(image.Id).remove({ force: true })
      }
    }),
  )
}
