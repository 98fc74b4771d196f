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
  approval(context: {
    triggeredBy: string | null
    approvedBy: string[]
    allowSelfApproval: boolean
  }): Decision
}

function permissionsFor(me: Me, projectId: string | undefined): Permissions {
  const role = me.memberships.find((m) => m.projectId === projectId)?.role
  const subject = { isAdmin: me.user.isAdmin, role }
  return {
    project: (action, context) => decideProject(subject, action, context),
    instance: (action) => decideInstance(subject, action),
    approval: ({ triggeredBy, approvedBy, allowSelfApproval }) =>
      // The approval view names people by email; emails identify users as ids do.
      decideApproval(subject, {
        approverUserId: me.user.email,
        triggeredByUserId: triggeredBy ?? undefined,
        alreadyApprovedBy: approvedBy,
        allowSelfApproval,
      }),
  }
}

export function usePermissions(projectId?: string): Permissions {
  return permissionsFor(useMe(), projectId)
}

/** `undefined` when allowed, else the reason (for a disabled control). */
export function reasonIfDenied(decision: Decision): string | undefined {
  return decision.allowed ? undefined : decision.reason
}
