export {
  type CanaryStep,
  type CanaryThresholds,
  canaryServerWeights,
  judgeCanaryStep,
  type StepVerdict,
  type VersionFigures,
} from './canary.ts'
export { placeReplicas } from './placement.ts'
export { planRollout } from './plan.ts'
export {
  planRestore,
  planRollback,
  type RestoreInput,
  type RollbackPlan,
  type RollbackState,
  type StartedInstance,
  stateAtFailure,
} from './rollback.ts'
export { type SimulatedInstance, type Simulation, simulate } from './simulate.ts'
export { autoBatchSize, resolveBatchSize, resolveCount } from './sizes.ts'
export {
  judgeSwarm,
  type SwarmHealth,
  type SwarmPolicy,
  type SwarmVerdict,
  swarmHealth,
  swarmPolicies,
  type TaskView,
} from './swarm.ts'
export * from './types.ts'
