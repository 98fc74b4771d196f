import { DeployStrategy, type Environment as EnvironmentContract } from '@slipway/contracts'
import type { Environment, Host, Release } from '@slipway/db'

export type EnvironmentWithHosts = Environment & {
  hosts: { host: Pick<Host, 'id' | 'name' | 'status'> }[]
  releases: Pick<Release, 'id' | 'number' | 'image' | 'digest' | 'replicas' | 'finishedAt'>[]
}

export const withHosts = {
  hosts: { include: { host: { select: { id: true, name: true, status: true } } } },
  releases: {
    where: { status: 'live' },
    orderBy: { number: 'desc' },
    take: 1,
    select: { id: true, number: true, image: true, digest: true, replicas: true, finishedAt: true },
  },
} as const

export function environmentView(env: EnvironmentWithHosts): EnvironmentContract {
  return {
    id: env.id,
    projectId: env.projectId,
    name: env.name,
    position: env.position,
    replicas: env.replicas,
    strategy: DeployStrategy.parse(env.strategy),
    protected: env.protected,
    requiredApprovals: env.requiredApprovals,
    allowSelfApproval: env.allowSelfApproval,
    approvalTtlMinutes: env.approvalTtlMinutes,
    gatewayPort: env.gatewayPort,
    target: env.target === 'swarm' ? 'swarm' : 'docker-hosts',
    hosts: env.hosts.map(({ host }) => host).sort((a, b) => a.name.localeCompare(b.name)),
    live: env.releases[0]
      ? {
          id: env.releases[0].id,
          number: env.releases[0].number,
          image: env.releases[0].image,
          digest: env.releases[0].digest,
          replicas: env.releases[0].replicas,
          since: env.releases[0].finishedAt,
        }
      : null,
    createdAt: env.createdAt,
    updatedAt: env.updatedAt,
  }
}
