/**
 * Who may do what. Pure: the API asks before every action, the dashboard asks to hide or
 * disable what a person may not use; the server's answer is the one enforced.
 */

export const roles = ['admin', 'maintainer', 'developer', 'tester', 'viewer'] as const
export type Role = (typeof roles)[number]

/** Actions on one project; the subject's role on that project decides. */
export const projectActions = [
  'project.read',
  'project.update',
  'project.delete',
  'member.manage',
  'environment.manage',
  'config.read',
  'config.write',
  'pipeline.trigger',
  'pipeline.cancel',
  'pipeline.retry',
  'deploy',
  'approval.decide',
  /** Promoting a canary past a manual step, or aborting it. */
  'canary.decide',
  'audit.read',
  'webhook.manage',
] as const
export type ProjectAction = (typeof projectActions)[number]

/** Actions on the installation itself: instance administrators only. */
export const instanceActions = [
  'project.create',
  'host.manage',
  'registry.manage',
  /** Granting hosts, registries, the host network and limits to a project. */
  'grant.manage',
  'user.manage',
  'audit.read.all',
] as const
export type InstanceAction = (typeof instanceActions)[number]

export interface Subject {
  /** Instance administrator: every right on every project. */
  isAdmin: boolean
  /** The subject's role on the project in question (undefined: not a member). */
  role?: Role
}

export interface ProjectContext {
  /** For `deploy`: is the target environment protected? */
  environmentProtected?: boolean
}

export type Decision = { allowed: true } | { allowed: false; reason: string }

const allow: Decision = { allowed: true }
const deny = (reason: string): Decision => ({ allowed: false, reason })

/** The roles that may perform each project action (admin always may). */
function rolesFor(action: ProjectAction, context: ProjectContext): readonly Role[] {
  switch (action) {
    case 'project.read':
      return ['admin', 'maintainer', 'developer', 'tester', 'viewer']
    case 'project.update':
    case 'environment.manage':
    case 'config.write':
    case 'audit.read':
    case 'webhook.manage':
      return ['admin', 'maintainer']
    case 'project.delete':
    case 'member.manage':
      return ['admin']
    case 'config.read':
    case 'pipeline.trigger':
    case 'pipeline.cancel':
    case 'pipeline.retry':
      return ['admin', 'maintainer', 'developer']
    case 'deploy':
      return context.environmentProtected ? ['admin', 'maintainer'] : ['admin', 'maintainer', 'developer']
    case 'approval.decide':
      // Segregation of duties: testers approve; developers do not, whatever their rank.
      return ['admin', 'maintainer', 'tester']
    case 'canary.decide':
      // Those who approve releases there decide canaries, and, where developers deploy, they too.
      return context.environmentProtected
        ? ['admin', 'maintainer', 'tester']
        : ['admin', 'maintainer', 'developer', 'tester']
    default: {
      const unknown: never = action
      throw new Error(`unknown action ${String(unknown)}`)
    }
  }
}

export function decideProject(
  subject: Subject,
  action: ProjectAction,
  context: ProjectContext = {},
): Decision {
  if (subject.isAdmin) return allow
  const allowed = rolesFor(action, context)
  if (!subject.role) return deny('you are not a member of this project')
  if (allowed.includes(subject.role)) return allow
  const needed = allowed.join(', ')
  const where =
    (action === 'deploy' || action === 'canary.decide') && context.environmentProtected
      ? ' on a protected environment'
      : ''
  return deny(`${action}${where} needs one of the roles ${needed}; you are ${subject.role}`)
}

export function decideInstance(subject: Subject, action: InstanceAction): Decision {
  return subject.isAdmin ? allow : deny(`${action} needs an instance administrator`)
}

export interface ApprovalContext {
  /** The user who triggered the pipeline (undefined for webhooks). */
  triggeredByUserId?: string
  approverUserId: string
  allowSelfApproval: boolean
  /** Users who already approved this stage. */
  alreadyApprovedBy: readonly string[]
}

/** May this person approve or reject this approval stage? Role first, then the stage's rules. */
export function decideApproval(subject: Subject, context: ApprovalContext): Decision {
  const byRole = decideProject(subject, 'approval.decide')
  if (!byRole.allowed) return byRole
  if (!context.allowSelfApproval && context.triggeredByUserId === context.approverUserId) {
    return deny('this environment does not accept an approval from the person who triggered the pipeline')
  }
  if (context.alreadyApprovedBy.includes(context.approverUserId))
    return deny('you have already approved this stage')
  return allow
}

/** An approval older than the environment's time limit (minutes; null = none) no longer counts. */
export function approvalExpired(approvedAt: Date, ttlMinutes: number | null, now = Date.now()): boolean {
  return ttlMinutes !== null && now - approvedAt.getTime() >= ttlMinutes * 60_000
}
