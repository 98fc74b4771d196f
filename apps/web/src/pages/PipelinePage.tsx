import { Pipeline, type Stage } from '@slipway/contracts'
import { api } from '../api/client.ts'
import { usePolling } from '../api/live.ts'
import { usePipeline } from '../api/queries.ts'
import { invalidate, prime } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { navigate, useQuery } from '../app/router.tsx'
import { CanaryPanel } from '../canary/CanaryPanel.tsx'
import { canaryNeedsPolling, canaryPollMs } from '../canary/shape.ts'
import { LogViewer } from '../logs/LogViewer.tsx'
import { useStageLog } from '../logs/useStageLog.ts'
import { StageTraffic } from '../traffic/StageTraffic.tsx'
import { Async } from '../ui/Async.tsx'
import { ActionButton } from '../ui/Button.tsx'
import { Duration, shortDigest, Time, useTick } from '../ui/format.tsx'
import { Facts, PageHeader, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { ApprovalPanel } from './ApprovalPanel.tsx'
import { queueText } from './PipelineTable.tsx'
import { LiveIndicator, useProjectScope } from './project-scope.tsx'
import { StageGraph, stageName } from './StageGraph.tsx'

const active = new Set(['queued', 'running', 'waiting'])

/** The stage to show first: the one running or waiting, else the one that failed, else the last that ran. */
export function defaultStage(stages: Stage[]): Stage | undefined {
  return (
    stages.find((s) => s.status === 'running') ??
    stages.find((s) => s.status === 'waiting') ??
    stages.find((s) => s.status === 'failed') ??
    [...stages].reverse().find((s) => s.startedAt) ??
    stages[0]
  )
}

function StageLog({ stage, pipeline }: { stage: Stage; pipeline: Pipeline }) {
  const source = useStageLog(stage.id)
  return (
    <LogViewer
      source={source}
      label={`Log of ${stageName(stage)}`}
      fileName={`pipeline-${pipeline.number}-${stageName(stage).replace(/\s+/g, '-')}.log`}
    />
  )
}

function PipelineView({ pipeline }: { pipeline: Pipeline }) {
  const { project, live } = useProjectScope()
  const can = usePermissions(project.id)
  const [query, setQuery] = useQuery()
  const selected = pipeline.stages.find((s) => s.id === query.get('stage')) ?? defaultStage(pipeline.stages)
  const approvalStage =
    pipeline.stages.find((s) => s.kind === 'approval' && s.status === 'waiting') ??
    (selected?.kind === 'approval' ? selected : undefined)
  const previousEnv = approvalStage
    ? [...pipeline.stages].reverse().find((s) => s.kind === 'deploy' && s.position < approvalStage.position)
        ?.environment?.name
    : undefined
  const failed = pipeline.stages.find((s) => s.status === 'failed')
  const accept = (updated: Pipeline) => {
    prime(`pipeline:${pipeline.id}`, updated)
    invalidate(`pipelines:${project.id}`)
  }
  const queue = queueText(pipeline)
  useTick(1000, active.has(pipeline.status))
  // A canary's state changes every second or so without a live event: polled while it may run.
  usePolling(canaryNeedsPolling(pipeline.stages) ? `pipeline:${pipeline.id}` : null, canaryPollMs)

  return (
    <>
      <PageHeader
        crumbs={[
          { to: `/p/${project.slug}`, label: project.name },
          { to: `/p/${project.slug}/pipelines`, label: 'Pipelines' },
        ]}
        title={
          <>
            Pipeline #{pipeline.number} <StatusBadge status={pipeline.status} />
          </>
        }
        subtitle={
          <>
            {pipeline.commitTitle ?? pipeline.trigger} · <LiveIndicator state={live} />
          </>
        }
        actions={
          <>
            {active.has(pipeline.status) ? (
              <ActionButton
                variant="danger"
                disabledReason={reasonIfDenied(can.project('pipeline.cancel'))}
                onAction={async () =>
                  accept(await api.post(`/api/pipelines/${pipeline.id}/cancel`, {}, Pipeline))
                }
              >
                Cancel pipeline
              </ActionButton>
            ) : null}
            {failed ? (
              <ActionButton
                disabledReason={reasonIfDenied(can.project('pipeline.retry'))}
                onAction={async () =>
                  accept(
                    await api.post(`/api/pipelines/${pipeline.id}/stages/${failed.id}/retry`, {}, Pipeline),
                  )
                }
              >
                Retry {stageName(failed)}
              </ActionButton>
            ) : null}
            {!active.has(pipeline.status) ? (
              <ActionButton
                disabledReason={reasonIfDenied(can.project('pipeline.trigger'))}
                onAction={async () => {
                  const created = await api.post(`/api/pipelines/${pipeline.id}/rerun`, {}, Pipeline)
                  invalidate(`pipelines:${project.id}`)
                  navigate(`/p/${project.slug}/pipelines/${created.id}`)
                }}
              >
                Re-run
              </ActionButton>
            ) : null}
          </>
        }
      />
      <Section title="Stages">
        <StageGraph pipeline={pipeline} selected={selected?.id} onSelect={(id) => setQuery({ stage: id })} />
        <Facts
          items={[
            ['Ref', <code key="r">{pipeline.ref}</code>],
            ['Commit', <code key="c">{pipeline.commitSha}</code>],
            [
              'Image digest',
              <code key="d" title={pipeline.imageDigest ?? ''}>
                {shortDigest(pipeline.imageDigest)}
              </code>,
            ],
            ['Trigger', `${pipeline.trigger}${pipeline.actor ? ` by ${pipeline.actor}` : ''}`],
            ['Created', <Time key="t" value={pipeline.createdAt} />],
            ['Duration', <Duration key="u" from={pipeline.startedAt} to={pipeline.finishedAt} />],
            ...(queue ? ([['Queue', queue]] as [string, string][]) : []),
          ]}
        />
        {pipeline.error ? <p className="field-error">{pipeline.error}</p> : null}
      </Section>
      {approvalStage ? (
        <ApprovalPanel pipeline={pipeline} stage={approvalStage} previousEnv={previousEnv} />
      ) : null}
      {pipeline.stages.map((stage) =>
        stage.kind === 'deploy' && stage.canary ? (
          <CanaryPanel key={stage.id} pipeline={pipeline} stage={stage} state={stage.canary} />
        ) : null,
      )}
      {selected ? <StageTraffic stage={selected} pipeline={pipeline} projectId={project.id} /> : null}
      {selected ? (
        <Section title={`Log: ${stageName(selected)}`} id="stage-log">
          <StageLog key={selected.id} stage={selected} pipeline={pipeline} />
        </Section>
      ) : null}
    </>
  )
}

export default function PipelinePage({ id }: { id: string }) {
  const pipeline = usePipeline(id)
  return (
    <Async resource={pipeline} what="the pipeline">
      {(data) => <PipelineView pipeline={data} />}
    </Async>
  )
}
