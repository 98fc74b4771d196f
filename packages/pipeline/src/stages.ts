import type { StageKind } from '@slipway/contracts'

export interface EnvironmentForPlan {
  id: string
  name: string
  position: number
  requiredApprovals: number
  /**
   * A protected environment this pipeline's starter may not deploy to: it waits for an approval
   * by someone who may, even with no approvals required (@slipway/policy protected.ts).
   */
  needsDeployer?: boolean
}

export interface PlannedStage {
  position: number
  kind: StageKind
  environmentId: string | null
}

/**
 * The stages of a pipeline: build, push, then for each environment in order an approval
 * (when the environment requires one, or the pipeline must wait for a deployer there)
 * followed by its deploy.
 */
export function planStages(environments: readonly EnvironmentForPlan[]): PlannedStage[] {
  const stages: Omit<PlannedStage, 'position'>[] = [
    { kind: 'build', environmentId: null },
    { kind: 'push', environmentId: null },
  ]
  for (const env of [...environments].sort((a, b) => a.position - b.position)) {
    if (env.requiredApprovals > 0 || env.needsDeployer)
      stages.push({ kind: 'approval', environmentId: env.id })
    stages.push({ kind: 'deploy', environmentId: env.id })
  }
  return stages.map((stage, position) => ({ ...stage, position }))
}
