/**
 * Protected environments. "Protected" means: only the roles allowed to deploy there (see
 * `decideProject(..., 'deploy', { environmentProtected: true })`) can cause a deploy there, by
 * any path. The paths, and what each needs:
 *
 * - rollback, scale, redeploy: the person asking must be allowed to deploy there.
 * - a pipeline (started by hand, through the API, a re-run, or a GitLab push or tag): started
 *   by someone allowed to deploy there, it goes on; started by anyone else (or by GitLab, where
 *   no person answers for it) it waits before the deploy for the environment's approvals, and
 *   where the environment requires none, for an approval by someone allowed to deploy there.
 * - retrying a stage: each deploy to a protected environment the retry sets going again needs
 *   the person retrying to be allowed to deploy there, unless that deploy still waits for an
 *   approval there.
 */
import { type Decision, decideProject, type Subject } from './rules.ts'

export const deployCauses = ['pipeline', 'rerun', 'gitlab', 'retry', 'rollback', 'scale', 'redeploy'] as const
export type DeployCause = (typeof deployCauses)[number]

/** What a cause leads to at an environment. */
export type DeployOutcome =
  /** The deploy goes ahead (after whatever approvals the environment requires). */
  | { outcome: 'deploy' }
  /** The deploy waits for an approval by someone allowed to deploy there. */
  | { outcome: 'await-deployer' }
  | { outcome: 'refused'; reason: string }

/** May this person deploy to the environment directly? */
export function mayDeployTo(subject: Subject, environmentProtected: boolean): boolean {
  return decideProject(subject, 'deploy', { environmentProtected }).allowed
}

/**
 * What `cause`, by `subject` (null: GitLab, no person), leads to at an environment. Pipelines
 * wait for a deployer where their starter may not deploy; direct operations are refused.
 */
export function decideDeployCause(
  subject: Subject | null,
  cause: DeployCause,
  environmentProtected: boolean,
): DeployOutcome {
  if (subject && mayDeployTo(subject, environmentProtected)) return { outcome: 'deploy' }
  switch (cause) {
    case 'pipeline':
    case 'rerun':
    case 'gitlab':
      // Unprotected: anyone who may start a pipeline may deploy through it (as before).
      return environmentProtected ? { outcome: 'await-deployer' } : { outcome: 'deploy' }
    case 'retry':
    case 'rollback':
    case 'scale':
    case 'redeploy': {
      const decision: Decision = subject
        ? decideProject(subject, 'deploy', { environmentProtected })
        : { allowed: false, reason: `${cause} needs a person` }
      return { outcome: 'refused', reason: decision.allowed ? '' : decision.reason }
    }
    default: {
      const unknown: never = cause
      throw new Error(`unknown deploy cause ${String(unknown)}`)
    }
  }
}

/**
 * Does a pipeline with this starter wait for a deployer's approval before deploying there?
 * Where the environment requires approvals, they are its release gate (by the roles that
 * approve: testers, maintainers, admins; never the starter unless allowed), so only an
 * environment that requires none needs a deployer's approval added.
 */
export function pipelineNeedsDeployer(
  starter: Subject | null,
  cause: 'pipeline' | 'rerun' | 'gitlab',
  environment: { protected: boolean; requiredApprovals: number },
): boolean {
  if (environment.requiredApprovals > 0) return false
  return decideDeployCause(starter, cause, environment.protected).outcome === 'await-deployer'
}

export interface ApprovalCount {
  /** Approvals the environment requires (an approval stage always needs at least one). */
  required: number
  /** The people whose (unexpired) approvals count, including the one deciding now. */
  approvers: readonly Subject[]
  /** Must one of them be allowed to deploy to the (protected) environment? */
  needsDeployer: boolean
}

/** Is an approval stage satisfied: enough approvals, and a deployer's among them when needed? */
export function approvalSatisfied(count: ApprovalCount): boolean {
  if (count.approvers.length < Math.max(1, count.required)) return false
  return !count.needsDeployer || count.approvers.some((subject) => mayDeployTo(subject, true))
}

/** A deploy stage a retry would set going again. */
export interface RetriedDeploy {
  environment: string
  environmentProtected: boolean
  /** Does it still wait for an approval stage there (the environment's approvers, or a deployer)? */
  awaitsApproval: boolean
}

/** May this person retry, given the deploys the retry sets going again? */
export function decideRetry(subject: Subject, deploys: readonly RetriedDeploy[]): Decision {
  for (const deploy of deploys) {
    if (deploy.awaitsApproval) continue
    const outcome = decideDeployCause(subject, 'retry', deploy.environmentProtected)
    if (outcome.outcome === 'refused')
      return {
        allowed: false,
        reason: `this retry would deploy to ${deploy.environment}, which is protected: ${outcome.reason}; start a new pipeline instead (it waits for their approval)`,
      }
  }
  return { allowed: true }
}
