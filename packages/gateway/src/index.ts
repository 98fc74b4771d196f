export * from './agent/ack.ts'
export * from './agent/agent.ts'
export { decideUpstream, type UpstreamDecision } from './agent/decide.ts'
export type { GatewaySite, SiteStatus } from './agent/site-worker.ts'
export * from './discovery/registry.ts'
export type { RegistryWatch, WatchOptions } from './discovery/watch.ts'
export * from './haproxy/applier.ts'
export {
  checkConfig,
  type HaproxyTarget,
  haproxyStartArgs,
  haproxyTargetAt,
  runHaproxy,
} from './haproxy/layout.ts'
export * from './haproxy/process.ts'
export {
  defaultBindAddress,
  type RenderedSite,
  renderMainConfig,
  renderSite,
  type SiteConfig,
  type SiteNames,
  type SiteServer,
  siteNames,
} from './haproxy/render.ts'
export { cliCommand, HaproxyRuntime, type ProcessTable, type ServerState } from './haproxy/runtime.ts'
export * from './metrics/index.ts'
export type { LeaseOptions } from './support/lease.ts'
export * from './traffic/switch.ts'
