import type { EnvironmentInstances } from '@slipway/contracts'
import type { z } from 'zod'

type Instances = z.infer<typeof EnvironmentInstances>

import { AppError } from '@slipway/core'
import type { Host } from '@slipway/db'
import { instancesOf, serviceName } from '@slipway/deploy'
import { DockerodeSwarm } from '@slipway/docker'
import type { AppDeps } from '../deps.ts'

/** The Swarm manager of a swarm environment (its one host). */
function managerOf(deps: AppDeps, env: { name: string; hosts: { host: Host }[] }): DockerodeSwarm {
  const host = env.hosts[0]?.host
  if (!host) throw new AppError('PRECONDITION_FAILED', `Swarm environment ${env.name} has no manager host`)
  return new DockerodeSwarm(host.name, deps.hostRecord(host))
}

/** A swarm environment's instances: its service's running tasks, at their nodes' addresses. */
export async function swarmInstances(
  deps: AppDeps,
  site: {
    project: string
    env: { name: string; hosts: { host: Host }[]; releases: { id: string; number: number }[] }
  },
  discovery: Instances['discovery'],
): Promise<Instances> {
  const manager = managerOf(deps, site.env)
  const signal = AbortSignal.timeout(8000)
  try {
    const [tasks, nodes] = await Promise.all([
      manager.tasks(serviceName(site.project, site.env.name), { signal }),
      manager.nodes({ signal }),
    ])
    const byId = new Map(nodes.map((n) => [n.id, n]))
    const running = instancesOf(site.project, site.env.name, tasks, byId)
    const numberOf = (id: string) => site.env.releases.find((r) => r.id === id)?.number ?? null
    const instances = running.map((instance) => {
      const entry = discovery.find((d) => d.id === instance.id)
      const task = tasks.find((t) => t.id === instance.id)
      return {
        id: instance.id,
        host: instance.host,
        address: instance.address,
        port: instance.port,
        containerId: instance.containerId,
        state: 'running',
        release: { id: instance.release, number: numberOf(instance.release) },
        image: instance.image,
        inGateway: Boolean(entry),
        lastHeartbeatAt: entry ? new Date(entry.lastHeartbeatAt) : null,
        startedAt: task ? new Date(task.updatedAt) : null,
      }
    })
    // Tasks wanted running that do not run (starting, failed and being replaced...).
    const others = tasks
      .filter((t) => t.desiredState === 'running' && t.state !== 'running')
      .map((t) => ({
        id: t.id,
        host: (t.nodeId && byId.get(t.nodeId)?.hostname) || '',
        address: (t.nodeId && byId.get(t.nodeId)?.address) || '',
        port: t.publishedPort ?? null,
        containerId: t.containerId ?? '',
        state: t.error ? `${t.state}: ${t.error}` : t.state,
        release: {
          id: t.labels['slipway.release'] ?? '',
          number: numberOf(t.labels['slipway.release'] ?? ''),
        },
        image: t.image,
        inGateway: false,
        lastHeartbeatAt: null,
        startedAt: null,
      }))
    return { instances: [...instances, ...others], unreachable: [], discovery }
  } catch (error) {
    if (!(error instanceof AppError) || !['HOST_UNREACHABLE', 'TIMEOUT'].includes(error.code)) throw error
    return { instances: [], unreachable: [{ host: manager.name, error: error.message }], discovery }
  }
}

/** The last log lines of the task running `containerId` (read through the manager). */
export async function swarmTaskLogs(
  deps: AppDeps,
  site: { project: string; env: { name: string; hosts: { host: Host }[] } },
  containerId: string,
  tail: number,
): Promise<string[]> {
  const manager = managerOf(deps, site.env)
  const tasks = await manager.tasks(serviceName(site.project, site.env.name))
  const task = tasks.find((t) => t.containerId?.startsWith(containerId))
  if (!task) throw new AppError('NOT_FOUND', 'no such instance in this environment')
  return manager.taskLogs(task.id, { tail })
}
