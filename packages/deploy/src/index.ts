export { type CanaryCommand, type CanaryHooks, type CanaryProgress, canaryRelease } from './canary.ts'
export { discoverSite, type HostInventory } from './discover.ts'
export { type ProbeOutcome, probeHttp, probeTcp } from './health/probe.ts'
export { probeOnce, type WaitHealthyOptions, waitHealthy } from './health/wait.ts'
export { containerName, instanceFromContainer, labelKeys } from './labels.ts'
export {
  type FailingInstance,
  HealthMonitor,
  type HealthMonitorOptions,
  type HeartbeatRegistry,
  type MonitorReport,
} from './monitor.ts'
export { type PullOutcome, prePull } from './prepull.ts'
export { type PruneRequest, type PruneResult, pruneImages } from './prune.ts'
export { type ReconcileResult, reconcile } from './reconcile.ts'
export { rollout } from './rollout.ts'
export { instancesOf, serviceName, swarmDeploy, syncGateway } from './swarm/deploy.ts'
export {
  type DeployTarget,
  DockerHostsTarget,
  type HealResult,
  type Heartbeats,
  SwarmTarget,
  type TargetDeployRequest,
} from './target.ts'
export type * from './types.ts'
export { mapLimit } from './util.ts'
