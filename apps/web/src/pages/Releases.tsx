import { type Environment, Pipeline, type Release } from '@slipway/contracts'
import { Fragment, useState } from 'react'
import { api } from '../api/client.ts'
import { useReleases } from '../api/queries.ts'
import { Link } from '../app/router.tsx'
import { TrafficChart } from '../traffic/TrafficChart.tsx'
import { Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { Dialog } from '../ui/Dialog.tsx'
import { shortDigest, shortSha, Time } from '../ui/format.tsx'
import { Empty, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { useProjectScope } from './project-scope.tsx'

/** A release can be gone back to if it went live once and is not live now. */
function canRollBackTo(release: Release): boolean {
  return release.status === 'superseded'
}

/** The environment's releases, newest first, with rollback to any earlier one that went live. */
export function Releases({
  env,
  deployDenied,
  onStarted,
}: {
  env: Environment
  deployDenied: string | undefined
  onStarted: (pipeline: Pipeline) => void
}) {
  const { project } = useProjectScope()
  const releases = useReleases(project.id, env.name)
  const [target, setTarget] = useState<Release | null>(null)
  // The newest release with a traffic report is open until someone picks another.
  const [opened, setOpened] = useState<string | null | undefined>(undefined)
  return (
    <Section title="Release history">
      <Async resource={releases} what="releases">
        {(list) =>
          list.length ? (
            <div className="table-wrap">
              <table aria-label="Releases">
                <thead>
                  <tr>
                    <th scope="col">Release</th>
                    <th scope="col">Status</th>
                    <th scope="col">Image</th>
                    <th scope="col">Commit</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Replicas</th>
                    <th scope="col">Config</th>
                    <th scope="col">Created</th>
                    <th scope="col">Traffic</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((release) => {
                    const open =
                      (opened === undefined ? list.find((r) => r.traffic)?.id : opened) === release.id &&
                      release.traffic !== null
                    return (
                      <Fragment key={release.id}>
                        <tr data-release={release.number} data-status={release.status}>
                          <td>#{release.number}</td>
                          <td>
                            <StatusBadge status={release.status} />
                            {release.error ? <div className="field-error">{release.error}</div> : null}
                          </td>
                          <td>
                            <code title={release.image}>{shortDigest(release.digest)}</code>
                          </td>
                          <td>
                            {release.pipeline ? (
                              <>
                                <code>{shortSha(release.pipeline.commitSha)}</code>{' '}
                                <Link to={`/p/${project.slug}/pipelines/${release.pipeline.id}`}>
                                  #{release.pipeline.number}
                                </Link>
                              </>
                            ) : (
                              '—'
                            )}
                          </td>
                          <td>
                            {release.kind}
                            {release.actor ? <div className="muted">{release.actor}</div> : null}
                          </td>
                          <td>{release.replicas}</td>
                          <td>{release.configVersion ? `v${release.configVersion}` : '—'}</td>
                          <td>
                            <Time value={release.createdAt} />
                          </td>
                          <td>
                            {release.traffic ? (
                              <Button
                                variant="ghost"
                                aria-expanded={open}
                                onClick={() => setOpened(open ? null : release.id)}
                              >
                                {release.traffic.totals.requests.toLocaleString('en')} req ·{' '}
                                <span
                                  className={release.traffic.totals.failed ? 'traffic-bad' : 'traffic-ok'}
                                >
                                  {release.traffic.totals.failed.toLocaleString('en')} failed
                                </span>
                              </Button>
                            ) : (
                              <span className="muted">—</span>
                            )}
                          </td>
                          <td>
                            {canRollBackTo(release) ? (
                              <Button onClick={() => setTarget(release)} disabledReason={deployDenied}>
                                Roll back to #{release.number}
                              </Button>
                            ) : null}
                          </td>
                        </tr>
                        {open && release.traffic ? (
                          <tr data-traffic-of={release.number}>
                            <td colSpan={10}>
                              <TrafficChart
                                report={release.traffic}
                                releaseNumbers={new Map(list.map((r) => [r.id, r.number]))}
                                title={`Release #${release.number}: what the gateway saw`}
                              />
                            </td>
                          </tr>
                        ) : null}
                      </Fragment>
                    )
                  })}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty>Nothing was released to {env.name} yet.</Empty>
          )
        }
      </Async>
      <Dialog
        open={target !== null}
        title={`Roll ${env.name} back to release #${target?.number}?`}
        onClose={() => setTarget(null)}
      >
        {target ? (
          <>
            <p>
              Every instance of {env.name} will run <code>{shortDigest(target.digest)}</code>
              {target.pipeline ? ` (commit ${shortSha(target.pipeline.commitSha)})` : ''} again, one batch at
              a time, health-checked.
            </p>
            <div className="form-actions">
              <ActionButton
                variant="primary"
                onAction={async () => {
                  const pipeline = await api.post(
                    `/api/projects/${project.id}/environments/${env.name}/rollback`,
                    { releaseNumber: target.number },
                    Pipeline,
                  )
                  setTarget(null)
                  onStarted(pipeline)
                  releases.reload()
                }}
              >
                Roll back
              </ActionButton>
              <Button onClick={() => setTarget(null)}>Keep the current release</Button>
            </div>
          </>
        ) : null}
      </Dialog>
    </Section>
  )
}
