import type { Pipeline, Stage } from '@slipway/contracts'
import { Duration, shortDigest } from '../ui/format.tsx'
import { StatusBadge } from '../ui/Status.tsx'

/** "build", "push", "deploy pre-release", "approval production". */
export function stageName(stage: Stage): string {
  if (stage.kind === 'deploy') return `deploy ${stage.environment?.name ?? ''}`.trim()
  if (stage.kind === 'approval') return `approval ${stage.environment?.name ?? ''}`.trim()
  return stage.kind
}

function resultLine(stage: Stage, pipeline: Pipeline): string | null {
  const result = stage.result ?? {}
  if (stage.kind === 'build' && typeof result.host === 'string') return `on ${result.host}`
  if (stage.kind === 'push') return shortDigest(pipeline.imageDigest)
  if (stage.kind === 'deploy' && typeof result.releaseNumber === 'number')
    return `release #${result.releaseNumber}, ${String(result.instances ?? '?')} instance(s)`
  return null
}

const terminal = new Set(['succeeded', 'failed', 'canceled', 'skipped'])

/** The pipeline's stages left to right; choosing one shows its log. */
export function StageGraph({
  pipeline,
  selected,
  onSelect,
}: {
  pipeline: Pipeline
  selected: string | undefined
  onSelect: (stageId: string) => void
}) {
  return (
    <ol className="stages" aria-label="Stages">
      {pipeline.stages.map((stage) => {
        const extra = resultLine(stage, pipeline)
        return (
          <li key={stage.id} className="stage" data-stage={stageName(stage)} data-status={stage.status}>
            <button
              type="button"
              className="stage-card"
              aria-pressed={stage.id === selected}
              onClick={() => onSelect(stage.id)}
            >
              <span className="title">{stageName(stage)}</span>
              <StatusBadge status={stage.status} />
              <span className="small">
                {stage.startedAt ? (
                  <>
                    {terminal.has(stage.status) ? 'took ' : 'for '}
                    <Duration from={stage.startedAt} to={stage.finishedAt} />
                  </>
                ) : stage.status === 'queued' && stage.queuePosition ? (
                  `#${stage.queuePosition} in queue`
                ) : (
                  'not started'
                )}
                {stage.attempt > 1 ? ` · attempt ${stage.attempt}` : ''}
              </span>
              {stage.actor ? <span className="small">by {stage.actor}</span> : null}
              {extra ? <span className="small">{extra}</span> : null}
              {stage.error ? <span className="stage-error">{stage.error}</span> : null}
            </button>
          </li>
        )
      })}
    </ol>
  )
}
