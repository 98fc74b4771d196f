import type { InstanceAction, ProjectAction, ProjectContext } from '@slipway/policy'
import type { AppDeps } from '../../src/deps.ts'
import type { Who, World } from './world.ts'

/** Who may call a route, in the terms of @slipway/policy. */
export type AccessRule =
  | { kind: 'project'; action: ProjectAction; context?: ProjectContext }
  | { kind: 'instance'; action: InstanceAction }
  /** Any signed-in person, on their own things (tokens, their session). */
  | { kind: 'self' }
  /** `decideApproval`: a project role that approves, and never one's own pipeline. */
  | { kind: 'approval'; ownPipeline: boolean }

export interface CaseContext {
  db: AppDeps['db']
  world: World
}

export interface PreparedRequest {
  url: string
  body?: unknown
}

export interface RouteCase {
  /** Tells variants of one route apart (e.g. "protected environment"). */
  label?: string
  rule: AccessRule
  /**
   * The error code an allowed request gets past the access check (read matrix): the world's
   * host has no Docker daemon behind it, so reading a container's log ends there.
   */
  allowedCode?: string
  /** Does an allowed request write an audit event? (default true) */
  audited?: boolean
  /** A valid request for `who`, creating first whatever it acts on. */
  prepare(ctx: CaseContext, who: Who): Promise<PreparedRequest>
}
