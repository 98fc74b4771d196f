import { ProjectGrants, PutProjectGrantsBody } from '@slipway/contracts'
import { useEffect, useState } from 'react'
import { api } from '../api/client.ts'
import { useGrants, useHosts, useRegistries } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { useProjectScope } from '../pages/project-scope.tsx'
import { Alert, Async } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { CheckboxField, TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Section } from '../ui/Layout.tsx'

/**
 * What the project may use, granted by an instance administrator: Docker hosts, registries
 * (each with the repository path its images must live at or below) and limits. Maintainers
 * see it read-only and choose environments' hosts and the registry among it.
 */
export function GrantSettings() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const denied = reasonIfDenied(can.instance('grant.manage'))
  const grants = useGrants(project.id)
  return (
    <Section title="Granted to this project">
      {denied ? <Alert tone="info">Read only: {denied}.</Alert> : null}
      <Async resource={grants} what="grants">
        {(current) =>
          denied ? <GrantsView grants={current} /> : <GrantsForm projectId={project.id} grants={current} />
        }
      </Async>
    </Section>
  )
}

function GrantsView({ grants }: { grants: ProjectGrants }) {
  return (
    <dl className="facts">
      <dt>Docker hosts</dt>
      <dd>{grants.hosts.map((h) => h.name).join(', ') || 'none'}</dd>
      <dt>Registries</dt>
      <dd>{grants.registries.map((r) => `${r.name} (${r.url}/${r.pathPrefix})`).join(', ') || 'none'}</dd>
      <dt>Replicas per environment</dt>
      <dd>at most {grants.limits.maxReplicas}</dd>
      <dt>Memory per instance</dt>
      <dd>at most {grants.limits.maxMemoryMb} MiB</dd>
      <dt>Host network</dt>
      <dd>{grants.limits.allowHostNetwork ? 'allowed' : 'not allowed'}</dd>
    </dl>
  )
}

function GrantsForm({ projectId, grants }: { projectId: string; grants: ProjectGrants }) {
  const hosts = useHosts()
  const registries = useRegistries()
  const [hostIds, setHostIds] = useState<string[]>([])
  const [paths, setPaths] = useState<Record<string, string>>({})
  const [limits, setLimits] = useState({ maxReplicas: '', maxMemoryMb: '', allowHostNetwork: false })
  useEffect(() => {
    setHostIds(grants.hosts.map((h) => h.id))
    setPaths(Object.fromEntries(grants.registries.map((r) => [r.id, r.pathPrefix])))
    setLimits({
      maxReplicas: String(grants.limits.maxReplicas),
      maxMemoryMb: String(grants.limits.maxMemoryMb),
      allowHostNetwork: grants.limits.allowHostNetwork,
    })
  }, [grants])
  const save = useSubmit(PutProjectGrantsBody, async (body) => {
    await api.put(`/api/projects/${projectId}/grants`, body, ProjectGrants)
    invalidate(`grants:${projectId}`)
    invalidate(`choices:${projectId}`)
  })
  const toggle = (id: string, on: boolean) =>
    setHostIds((ids) => (on ? [...new Set([...ids, id])] : ids.filter((x) => x !== id)))
  const submit = () =>
    void save.submit({
      hostIds,
      registries: Object.entries(paths)
        .filter(([, prefix]) => prefix !== undefined)
        .map(([registryId, pathPrefix]) => ({ registryId, pathPrefix })),
      limits: {
        maxReplicas: Number(limits.maxReplicas),
        maxMemoryMb: Number(limits.maxMemoryMb),
        allowHostNetwork: limits.allowHostNetwork,
      },
    })
  return (
    <Form onSubmit={submit} state={save} label="Grants" savedText="Granted.">
      <fieldset>
        <legend>Docker hosts its environments and builds may use</legend>
        {(hosts.data ?? []).map((host) => (
          <CheckboxField
            key={host.id}
            label={`${host.name} (${host.address || host.endpoint})`}
            checked={hostIds.includes(host.id)}
            onChange={(event) => toggle(host.id, event.target.checked)}
          />
        ))}
      </fieldset>
      <fieldset>
        <legend>Registries, with the repository path its images must live at or below</legend>
        {(registries.data ?? []).map((registry) => {
          const granted = paths[registry.id] !== undefined
          return (
            <div key={registry.id} className="form-grid">
              <CheckboxField
                label={`${registry.name} (${registry.url})`}
                checked={granted}
                onChange={(event) =>
                  setPaths((all) => {
                    const next = { ...all }
                    if (event.target.checked) next[registry.id] = ''
                    else delete next[registry.id]
                    return next
                  })
                }
              />
              {granted ? (
                <TextField
                  label={`Path in ${registry.name}`}
                  value={paths[registry.id] ?? ''}
                  placeholder="team/app"
                  onChange={(event) => setPaths((all) => ({ ...all, [registry.id]: event.target.value }))}
                  error={save.errorWithin('registries')}
                />
              ) : null}
            </div>
          )
        })}
      </fieldset>
      <div className="form-grid">
        <TextField
          label="Replicas per environment, at most"
          inputMode="numeric"
          value={limits.maxReplicas}
          onChange={(event) => setLimits({ ...limits, maxReplicas: event.target.value })}
          error={save.error('limits.maxReplicas')}
        />
        <TextField
          label="Memory per instance, at most (MiB)"
          inputMode="numeric"
          value={limits.maxMemoryMb}
          onChange={(event) => setLimits({ ...limits, maxMemoryMb: event.target.value })}
          error={save.error('limits.maxMemoryMb')}
        />
        <CheckboxField
          label="May use the host network (no isolation between its containers)"
          checked={limits.allowHostNetwork}
          onChange={(event) => setLimits({ ...limits, allowHostNetwork: event.target.checked })}
        />
      </div>
      <Button type="submit" variant="primary" busy={save.busy}>
        Save grants
      </Button>
    </Form>
  )
}
