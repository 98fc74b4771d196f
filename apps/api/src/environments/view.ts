import { DeployStrategy, type Environment as EnvironmentContract } from '@slipway/contracts'
import type { Environment, Host } from '@slipway/db'

export type EnvironmentWithHosts = Environment & { hosts: { host: Pick<Host, 'id' | 'name' | 'status'> }[] }

export const withHosts = {
  hosts: { include: { host: { select: { id: true, name: true, status: true } } } },
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
    hosts: env.hosts.map(({ host }) => host).sort((a, b) => a.name.localeCompare(b.name)),
    createdAt: env.createdAt,
    updatedAt: env.updatedAt,
  }
}
