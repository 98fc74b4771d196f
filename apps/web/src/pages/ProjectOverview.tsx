import { CreatePipelineBody, Pipeline } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useEnvironments, usePipelines } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { Link, navigate } from '../app/router.tsx'
import { Async } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { shortDigest, Time } from '../ui/format.tsx'
import { Empty, Facts, PageHeader, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { environmentHealth } from './health.ts'
import { PipelineTable } from './PipelineTable.tsx'
import { LiveIndicator, useProjectScope } from './project-scope.tsx'

/** Starts a pipeline at a branch or tag (resolved by the server) and opens it. */
function RunPipeline() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const [ref, setRef] = useState(project.defaultBranch)
  const form = useSubmit(CreatePipelineBody, async (body) => {
    const created = await api.post(`/api/projects/${project.id}/pipelines`, body, Pipeline)
    invalidate(`pipelines:${project.id}`)
    navigate(`/p/${project.slug}/pipelines/${created.id}`)
  })
  const denied = reasonIfDenied(can.project('pipeline.trigger'))
  return (
    <Form onSubmit={() => void form.submit({ ref })} state={form} label="Run a pipeline">
      <div className="row">
        <TextField
          label="Branch or tag"
          name="ref"
          value={ref}
          onChange={(event) => setRef(event.target.value)}
          error={form.error('ref') ?? form.error('sha')}
          disabled={Boolean(denied)}
        />
        <Button type="submit" variant="primary" busy={form.busy} disabledReason={denied}>
          Run pipeline
        </Button>
      </div>
    </Form>
  )
}

export default function ProjectOverview() {
  const { project, live } = useProjectScope()
  const envs = useEnvironments(project.id)
  const recent = usePipelines(project.id, { limit: 8 })
  return (
    <>
      <PageHeader
        title={project.name}
        subtitle={
          <>
            <code>{project.gitUrl}</code> · default branch <code>{project.defaultBranch}</code> ·{' '}
            <LiveIndicator state={live} />
          </>
        }
        actions={<RunPipeline />}
      />
      <Section title="Environments">
        <Async resource={envs} what="environments">
          {(list) =>
            list.length ? (
              <div className="grid">
                {list.map((env) => {
                  const health = environmentHealth(env)
                  return (
                    <div key={env.id} className="card" data-environment={env.name}>
                      <div className="card-head">
                        <h3>
                          <Link to={`/p/${project.slug}/environments/${env.name}`}>{env.name}</Link>
                        </h3>
                        <StatusBadge status={health.status} label={health.label} />
                      </div>
                      <Facts
                        items={[
                          ['Live release', env.live ? `#${env.live.number}` : '—'],
                          ['Image', <code key="d">{shortDigest(env.live?.digest)}</code>],
                          ['Replicas', String(env.replicas)],
                          ['Since', <Time key="t" value={env.live?.since} />],
                          ['Hosts', env.hosts.map((h) => `${h.name} (${h.status})`).join(', ') || '—'],
                          ['Protected', env.protected ? `yes, ${env.requiredApprovals} approval(s)` : 'no'],
                        ]}
                      />
                    </div>
                  )
                })}
              </div>
            ) : (
              <Empty>No environments yet; add them in Settings.</Empty>
            )
          }
        </Async>
      </Section>
      <Section
        title="Recent pipelines"
        actions={<Link to={`/p/${project.slug}/pipelines`}>All pipelines</Link>}
      >
        <Async resource={recent} what="pipelines">
          {(data) =>
            data.items.length ? (
              <PipelineTable slug={project.slug} pipelines={data.items} />
            ) : (
              <Empty>No pipelines yet.</Empty>
            )
          }
        </Async>
      </Section>
    </>
  )
}
