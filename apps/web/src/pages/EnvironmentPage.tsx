import { addressWithPort, type Environment, Pipeline, ScaleBody } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { usePolling } from '../api/live.ts'
import { useEnvironments, useInstances, usePipelines } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { Link } from '../app/router.tsx'
import { Alert, Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { ago, shortDigest, Time, Uptime } from '../ui/format.tsx'
import { Empty, Facts, PageHeader, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { InstanceLogs } from './InstanceLogs.tsx'
import { LiveIndicator, useProjectScope } from './project-scope.tsx'
import { Releases } from './Releases.tsx'

function Operation({ pipeline, slug }: { pipeline: Pipeline | null; slug: string }) {
  if (!pipeline) return null
  return (
    <Alert tone="info">
      Started <Link to={`/p/${slug}/pipelines/${pipeline.id}`}>pipeline #{pipeline.number}</Link> (
      {pipeline.commitTitle ?? pipeline.trigger}).
    </Alert>
  )
}

function ScaleForm({
  env,
  denied,
  onStarted,
}: {
  env: Environment
  denied: string | undefined
  onStarted: (p: Pipeline | null) => void
}) {
  const { project } = useProjectScope()
  const [replicas, setReplicas] = useState(String(env.replicas))
  const form = useSubmit(ScaleBody, async (body) => {
    const answer = await api.post(`/api/projects/${project.id}/environments/${env.name}/scale`, body, {
      parse: (json: unknown) =>
        json && typeof json === 'object' && 'stages' in json ? Pipeline.parse(json) : null,
    })
    invalidate(`envs:${project.id}`)
    onStarted(answer)
  })
  return (
    <Form
      onSubmit={() => void form.submit({ replicas: Number(replicas) })}
      state={form}
      label="Scale"
      savedText="Scaling started."
    >
      <div className="row">
        <TextField
          label="Replicas"
          name="replicas"
          type="number"
          min={0}
          value={replicas}
          onChange={(event) => setReplicas(event.target.value)}
          error={form.error('replicas')}
          disabled={Boolean(denied)}
        />
        <Button type="submit" busy={form.busy} disabledReason={denied}>
          Scale
        </Button>
      </div>
    </Form>
  )
}

function EnvironmentView({ env }: { env: Environment }) {
  const { project, live } = useProjectScope()
  const can = usePermissions(project.id)
  const instances = useInstances(project.id, env.name)
  usePolling(`env:${project.id}:${env.name}:instances`, 10_000)
  const [operation, setOperation] = useState<Pipeline | null>(null)
  const [chosen, setChosen] = useState<string | undefined>()
  const running = usePipelines(project.id, { status: 'running', limit: 5 })
  const deployDenied = reasonIfDenied(can.project('deploy', { environmentProtected: env.protected }))
  const logsDenied = reasonIfDenied(can.project('config.read'))
  const started = (pipeline: Pipeline | null) => {
    setOperation(pipeline)
    invalidate(`env:${project.id}:${env.name}`)
  }
  const busy = running.data?.items.some((p) =>
    p.stages.some((s) => s.kind === 'deploy' && s.environment?.id === env.id && s.status === 'running'),
  )

  return (
    <>
      <PageHeader
        crumbs={[{ to: `/p/${project.slug}`, label: project.name }]}
        title={
          <>
            {env.name} {env.protected ? <StatusBadge status="waiting" label="protected" /> : null}
          </>
        }
        subtitle={
          <>
            {env.live ? `release #${env.live.number} live` : 'nothing live yet'} ·{' '}
            <LiveIndicator state={live} />
            {busy ? ' · a deploy is running' : ''}
          </>
        }
        actions={
          <ActionButton
            disabledReason={deployDenied ?? (env.live ? undefined : 'nothing is live to redeploy')}
            onAction={async () =>
              started(
                await api.post(`/api/projects/${project.id}/environments/${env.name}/redeploy`, {}, Pipeline),
              )
            }
          >
            Redeploy
          </ActionButton>
        }
      />
      <Operation pipeline={operation} slug={project.slug} />
      <div className="columns">
        <Section title="Current release">
          <Facts
            items={[
              ['Release', env.live ? `#${env.live.number}` : '—'],
              [
                'Image',
                <code key="i" title={env.live?.image}>
                  {shortDigest(env.live?.digest)}
                </code>,
              ],
              ['Replicas wanted', String(env.replicas)],
              ['Live since', <Time key="t" value={env.live?.since} />],
              ['Gateway', env.gatewayPort ? `127.0.0.1:${env.gatewayPort}` : '—'],
              ['Approvals needed', env.protected ? String(env.requiredApprovals) : 'none'],
            ]}
          />
        </Section>
        <Section title="Scale">
          <ScaleForm env={env} denied={deployDenied} onStarted={started} />
        </Section>
      </div>
      <Section title="Hosts">
        {env.hosts.length ? (
          <ul className="row" aria-label="Hosts">
            {env.hosts.map((host) => (
              <li key={host.id} className="row">
                {host.name} <StatusBadge status={host.status} />
              </li>
            ))}
          </ul>
        ) : (
          <Empty>No hosts in this environment.</Empty>
        )}
      </Section>
      <Section title="Instances" actions={<Button onClick={instances.reload}>Refresh</Button>}>
        <Async resource={instances} what="instances">
          {(data) => (
            <>
              {data.unreachable.map((u) => (
                <Alert key={u.host} tone="warn">
                  Host {u.host} could not be asked: {u.error}
                </Alert>
              ))}
              {data.instances.length ? (
                <div className="table-wrap">
                  <table aria-label="Instances">
                    <thead>
                      <tr>
                        <th scope="col">Host</th>
                        <th scope="col">Instance</th>
                        <th scope="col">Address</th>
                        <th scope="col">Version</th>
                        <th scope="col">State</th>
                        <th scope="col">Health</th>
                        <th scope="col">Uptime</th>
                        <th scope="col">In the gateway since</th>
                        <th scope="col">
                          <span className="visually-hidden">Logs</span>
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {data.instances.map((instance) => {
                        const entry = data.discovery.find((d) => d.id === instance.id)
                        const healthy = instance.state === 'running' && instance.inGateway
                        return (
                          <tr key={instance.containerId} data-instance={instance.id}>
                            <td>{instance.host}</td>
                            <td>
                              <code>{instance.id}</code>
                            </td>
                            <td>
                              {instance.address && instance.port ? (
                                <code>{addressWithPort(instance.address, instance.port)}</code>
                              ) : (
                                '—'
                              )}
                            </td>
                            <td>
                              {instance.release.number ? `#${instance.release.number} ` : ''}
                              <code title={instance.image}>{shortDigest(instance.image)}</code>
                            </td>
                            <td>{instance.state}</td>
                            <td>
                              <StatusBadge
                                status={healthy ? 'healthy' : 'unhealthy'}
                                label={
                                  healthy
                                    ? 'healthy'
                                    : instance.state === 'running'
                                      ? 'not in gateway'
                                      : instance.state
                                }
                              />
                              {instance.lastHeartbeatAt ? (
                                <div className="muted">heartbeat {ago(instance.lastHeartbeatAt)}</div>
                              ) : null}
                            </td>
                            <td data-uptime>
                              <Uptime value={instance.state === 'running' ? instance.startedAt : null} />
                            </td>
                            <td>
                              {entry ? `for ${ago(new Date(entry.registeredAt)).replace(' ago', '')}` : '—'}
                            </td>
                            <td>
                              <Button
                                onClick={() => setChosen(instance.containerId)}
                                disabledReason={logsDenied}
                                aria-label={`Logs of ${instance.id}`}
                              >
                                Logs
                              </Button>
                            </td>
                          </tr>
                        )
                      })}
                    </tbody>
                  </table>
                </div>
              ) : (
                <Empty>No instances are running.</Empty>
              )}
              {!logsDenied && data.instances.length ? (
                <InstanceLogs
                  projectId={project.id}
                  env={env.name}
                  instances={data.instances}
                  chosen={chosen}
                  onChoose={setChosen}
                />
              ) : null}
            </>
          )}
        </Async>
      </Section>
      <Releases env={env} deployDenied={deployDenied} onStarted={started} />
    </>
  )
}

export default function EnvironmentPage({ name }: { name: string }) {
  const { project } = useProjectScope()
  const envs = useEnvironments(project.id)
  return (
    <Async resource={envs} what="the environment">
      {(list) => {
        const env = list.find((e) => e.name === name)
        return env ? (
          <EnvironmentView env={env} />
        ) : (
          <Alert tone="warn">There is no environment {name}.</Alert>
        )
      }}
    </Async>
  )
}
