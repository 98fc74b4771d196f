export { classifyRequest, type FailureCause, failureCauses, type RequestOutcome } from './classify.ts'
export { histogramRelativeError, LatencyHistogram } from './histogram.ts'
export { parseTrafficLine, siteOfBackend, type TrafficLine, type TrafficSite } from './parse.ts'
export {
  type RecordReleaseTrafficOptions,
  type ReleaseTrafficDb,
  recordReleaseTraffic,
} from './record-release.ts'
export { TrafficRecorder, type TrafficRecorderOptions } from './recorder.ts'
export { type RegistryReleaseOfOptions, type ReleaseOf, registryReleaseOf } from './release-of.ts'
export { readReleaseFigures, readTraffic, trafficRecordedUntil, waitForTraffic } from './report.ts'
export { trafficKeys } from './store.ts'
