import type { Me } from '@slipway/contracts'
import {
  type Decision,
  decideApproval,
  decideInstance,
  decideProject,
  type InstanceAction,
  type ProjectAction,
  type ProjectContext,
} from '@slipway/policy'
import { useMe } from './session.tsx'

export type { Decision }

/** The same answers the API enforces, to hide or disable what this person may not use. */
export interface Permissions {
  project(action: ProjectAction, context?: ProjectContext): Decision
  instance(action: InstanceAction): Decision
  /** User ids, as the approval view gives them (`triggeredByUserId`, `approvals[].userId`). */
  approval(context: {
    triggeredByUserId: string | null
    approvedByUserIds: string[]
    allowSelfApproval: boolean
  }): Decision
}

export function permissionsFor(me: Me, projectId: string | undefined): Permissions {
  const role = me.memberships.find((m) => m.projectId === projectId)?.role
  const subject = { isAdmin: me.user.isAdmin, role }
  return {
    project: (action, context) => decideProject(subject, action, context),
    instance: (action) => decideInstance(subject, action),
    approval: ({ triggeredByUserId, approvedByUserIds, allowSelfApproval }) =>
      decideApproval(subject, {
        approverUserId: me.user.id,
        triggeredByUserId: triggeredByUserId ?? undefined,
        alreadyApprovedBy: approvedByUserIds,
        allowSelfApproval,
      }),
  }
}

export function usePermissions(projectId?: string): Permissions {
  return permissionsFor(useMe(), projectId)
}

const actionWords: Record<string, string> = {
  'project.read': 'Seeing this project',
  'project.update': 'Changing project settings',
  'project.delete': 'Deleting the project',
  'member.manage': 'Managing members',
  'environment.manage': 'Managing environments',
  'config.read': 'Reading config and container logs',
  'config.write': 'Changing config',
  'pipeline.trigger': 'Running pipelines',
  'pipeline.cancel': 'Canceling pipelines',
  'pipeline.retry': 'Retrying stages',
  deploy: 'Deploying',
  'approval.decide': 'Approving or rejecting',
  'canary.decide': 'Promoting or aborting a canary',
  'audit.read': 'Reading the audit log',
  'webhook.manage': 'Managing webhooks',
  'project.create': 'Creating projects',
  'host.manage': 'Managing hosts',
  'registry.manage': 'Managing registries',
  'grant.manage': 'Granting hosts, registries and limits to projects',
  'user.manage': 'Managing users',
  'audit.read.all': 'Reading the whole audit log',
}

/** The policy's reason in plain words: "Approving or rejecting needs the role admin, maintainer or tester; you are viewer". */
function plainReason(reason: string): string {
  const byRole = /^([a-z.]+)( on a protected environment)? needs one of the roles ([a-z, ]+); (.*)$/.exec(
    reason,
  )
  if (byRole) {
    const [, action = '', where = '', roles = '', rest] = byRole
    return `${actionWords[action] ?? action}${where} needs the role ${roles.replace(/, ([a-z]+)$/, ' or $1')}; ${rest}`
  }
  const instance = /^([a-z.]+) needs an instance administrator$/.exec(reason)
  if (instance) return `${actionWords[instance[1]!] ?? instance[1]} needs an instance administrator`
  return reason.charAt(0).toUpperCase() + reason.slice(1)
}

/** `undefined` when allowed, else the reason in plain words (for a disabled control). */
export function reasonIfDenied(decision: Decision): string | undefined {
  return decision.allowed ? undefined : plainReason(decision.reason)
}
