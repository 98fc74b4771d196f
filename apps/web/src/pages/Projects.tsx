import type { Environment, Project } from '@slipway/contracts'
import { usePolling } from '../api/live.ts'
import { useEnvironments, usePipelines, useProjects } from '../api/queries.ts'
import { usePermissions } from '../app/permissions.ts'
import { Link, navigate } from '../app/router.tsx'
import { Async } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { shortDigest, Time } from '../ui/format.tsx'
import { Empty, PageHeader } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { environmentHealth } from './health.ts'

function EnvironmentLine({ project, env }: { project: Project; env: Environment }) {
  const health = environmentHealth(env)
  return (
    <tr>
      <th scope="row">
        <Link to={`/p/${project.slug}/environments/${env.name}`}>{env.name}</Link>
      </th>
      <td>
        {env.live ? (
          <>
            release #{env.live.number} <code title={env.live.digest}>{shortDigest(env.live.digest)}</code>
          </>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
      <td>
        <StatusBadge status={health.status} label={health.label} />
      </td>
      <td>{env.live ? <Time value={env.live.since} /> : null}</td>
    </tr>
  )
}

function ProjectCard({ project }: { project: Project }) {
  const envs = useEnvironments(project.id)
  const latest = usePipelines(project.id, { limit: 1 })
  const last = latest.data?.items[0]
  return (
    <section className="card" aria-labelledby={`p-${project.id}`}>
      <div className="card-head">
        <h2 id={`p-${project.id}`}>
          <Link to={`/p/${project.slug}`}>{project.name}</Link>{' '}
          <span className="muted">({project.slug})</span>
        </h2>
        {last ? (
          <Link to={`/p/${project.slug}/pipelines/${last.id}`} className="row">
            latest #{last.number} <StatusBadge status={last.status} />
          </Link>
        ) : latest.loading ? null : (
          <span className="muted">no pipelines yet</span>
        )}
      </div>
      <Async resource={envs} what="environments">
        {(list) =>
          list.length ? (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Environment</th>
                    <th scope="col">Live release</th>
                    <th scope="col">Health</th>
                    <th scope="col">Since</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((env) => (
                    <EnvironmentLine key={env.id} project={project} env={env} />
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty>No environments yet.</Empty>
          )
        }
      </Async>
    </section>
  )
}

/** Every project the person may see, with each environment's live release and health. */
export default function Projects() {
  const projects = useProjects()
  const can = usePermissions()
  usePolling('envs:', 15_000)
  usePolling('pipelines:', 15_000)
  return (
    <>
      <PageHeader
        title="Projects"
        actions={
          can.instance('project.create').allowed ? (
            <Button variant="primary" onClick={() => navigate('/projects/new')}>
              New project
            </Button>
          ) : null
        }
      />
      <Async resource={projects} what="projects">
        {(list) =>
          list.length ? (
            <div className="grid-wide">
              {list.map((project) => (
                <ProjectCard key={project.id} project={project} />
              ))}
            </div>
          ) : (
            <Empty>No projects you are a member of yet.</Empty>
          )
        }
      </Async>
    </>
  )
}
