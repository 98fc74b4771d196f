import type { Pipeline } from '@slipway/contracts'
import { Link } from '../app/router.tsx'
import { Duration, shortSha, Time } from '../ui/format.tsx'
import { StatusBadge } from '../ui/Status.tsx'

/** "2nd in line for build" for a pipeline whose next stage waits in a queue. */
export function queueText(pipeline: Pipeline): string | null {
  const queued = pipeline.stages.find((stage) => stage.status === 'queued')
  if (!queued) return null
  const where = queued.kind === 'deploy' ? `deploy to ${queued.environment?.name ?? '?'}` : queued.kind
  if (!queued.queuePosition) return `queued for ${where}`
  return queued.queuePosition === 1
    ? `next in line for ${where}`
    : `#${queued.queuePosition} in line for ${where}`
}

export function PipelineTable({ slug, pipelines }: { slug: string; pipelines: Pipeline[] }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Pipeline</th>
            <th scope="col">Status</th>
            <th scope="col">Ref</th>
            <th scope="col">Commit</th>
            <th scope="col">Trigger</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {pipelines.map((pipeline) => {
            const queue = queueText(pipeline)
            return (
              <tr key={pipeline.id} data-pipeline={pipeline.number}>
                <td>
                  <Link to={`/p/${slug}/pipelines/${pipeline.id}`}>#{pipeline.number}</Link>
                </td>
                <td>
                  <StatusBadge status={pipeline.status} />
                  {queue ? <div className="muted small">{queue}</div> : null}
                </td>
                <td>
                  <code>{pipeline.ref}</code>
                </td>
                <td>
                  <code title={pipeline.commitSha}>{shortSha(pipeline.commitSha)}</code>{' '}
                  <span className="muted">{pipeline.commitTitle ?? ''}</span>
                </td>
                <td>
                  {pipeline.trigger}
                  {pipeline.actor ? <div className="muted">{pipeline.actor}</div> : null}
                </td>
                <td>
                  <Time value={pipeline.startedAt ?? pipeline.createdAt} />
                </td>
                <td>
                  <Duration from={pipeline.startedAt} to={pipeline.finishedAt} />
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}
