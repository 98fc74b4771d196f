import type { Pipeline, Release, Stage } from '@slipway/contracts'
import { useReleases } from '../api/queries.ts'
import { Section } from '../ui/Layout.tsx'
import { TrafficChart } from './TrafficChart.tsx'

/** The release a deploy stage made: the one its result names, else the newest of its pipeline. */
export function releaseOfStage(
  stage: Stage,
  pipeline: Pipeline,
  releases: readonly Release[],
): Release | undefined {
  const id = stage.result?.releaseId
  return (
    (typeof id === 'string' ? releases.find((release) => release.id === id) : undefined) ??
    releases.find((release) => release.pipeline?.id === pipeline.id)
  )
}

/** What the gateway saw while a deploy stage rolled out (shown once the report is stored). */
export function StageTraffic({
  stage,
  pipeline,
  projectId,
}: {
  stage: Stage
  pipeline: Pipeline
  projectId: string
}) {
  const environment = stage.kind === 'deploy' ? stage.environment?.name : undefined
  if (!environment) return null
  return <DeployTraffic stage={stage} pipeline={pipeline} projectId={projectId} environment={environment} />
}

function DeployTraffic({
  stage,
  pipeline,
  projectId,
  environment,
}: {
  stage: Stage
  pipeline: Pipeline
  projectId: string
  environment: string
}) {
  const releases = useReleases(projectId, environment)
  const list = releases.data ?? []
  const release = releaseOfStage(stage, pipeline, list)
  if (!release?.traffic) return null
  return (
    <Section
      title={`Traffic during the rollout to ${environment} (release #${release.number})`}
      id="stage-traffic"
    >
      <TrafficChart report={release.traffic} releaseNumbers={new Map(list.map((r) => [r.id, r.number]))} />
    </Section>
  )
}
