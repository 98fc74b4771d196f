export * from './events.ts'
export * from './host-ports.ts'
export * from './logs.ts'
export type { ApprovalRequest } from './pipelines/approvals.ts'
export type { NewPipeline } from './pipelines/create.ts'
export { retryDecision, waitsForDeployer } from './pipelines/protection.ts'
export type { Change } from './pipelines/transitions.ts'
export * from './publish.ts'
export type { NewRelease, ReleaseOutcome } from './releases/records.ts'
export { deployRefusal, operationTriggers, releaseKindOf, rollbackRefusal } from './releases/rules.ts'
export * from './runs.ts'
export { ConcurrentChange } from './stages/apply.ts'
export { type Claim, leaseMs } from './stages/claim.ts'
export {
  classifyFailure,
  type FailureOutcome,
  isTransient,
  maxAttempts,
  type RunnableKind,
  triesUsed,
} from './stages/outcome.ts'
