import { CreateHostBody, Host, UpdateHostBody } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useHosts } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { CheckboxField, TextArea, TextField } from '../ui/Field.tsx'
import { Form } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Empty, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { num, pairsText } from './draft.ts'
import { changedFields, parseLabels, storedHint, tlsChange } from './edits.ts'
import { useRecordForm } from './record-form.ts'

function draftOf(host: Host | null) {
  return {
    name: host?.name ?? '',
    endpoint: host?.endpoint ?? '',
    agentGroup: host?.agentGroup ?? '',
    maxConcurrentBuilds: String(host?.maxConcurrentBuilds ?? 2),
    labels: pairsText(host?.labels ?? {}),
    // TLS is write-only: the API says which parts are set, never what they are.
    ca: '',
    cert: '',
    key: '',
    removeTls: false,
  }
}

type HostDraft = ReturnType<typeof draftOf>

/** The draft's plain fields as they go into a body. */
function fieldsOf(d: HostDraft, labels: Record<string, string>) {
  return {
    name: d.name,
    endpoint: d.endpoint,
    agentGroup: d.agentGroup || null,
    maxConcurrentBuilds: num(d.maxConcurrentBuilds),
    labels,
  }
}

/**
 * Adds a host, or edits `host` (sending only what changed). TLS parts left empty are kept;
 * "Remove TLS" drops all of them.
 */
function HostForm({ host, onClose }: { host: Host | null; onClose: () => void }) {
  const {
    current,
    draft: d,
    setDraft,
    form,
    save,
  } = useRecordForm(host, {
    draftOf,
    create: CreateHostBody,
    update: UpdateHostBody,
    post: (body) => api.post('/api/hosts', body, Host),
    patch: (id, body) => api.patch(`/api/hosts/${id}`, body, Host),
    resource: 'hosts',
  })
  const submit = () => {
    const labels = parseLabels(d.labels)
    if (!labels.ok) return form.reject({ labels: labels.error })
    const fields = fieldsOf(d, labels.value)
    const tls = tlsChange({ ca: d.ca, cert: d.cert, key: d.key, remove: d.removeTls })
    if (!current) return save({ ...fields, tls: tls ?? null })
    save({
      ...changedFields(fieldsOf(draftOf(current), current.labels), fields),
      ...(tls === undefined ? {} : { tls }),
    })
  }
  const set = (field: keyof HostDraft) => (event: { target: { value: string } }) =>
    setDraft({ ...d, [field]: event.target.value })
  const tlsSet = current ? current.tls.caSet || current.tls.certSet || current.tls.keySet : false
  const title = current ? `Edit host ${current.name}` : 'Add a host'
  return (
    <Section title={title} id="host-form">
      <Form
        onSubmit={submit}
        state={form}
        label={title}
        savedText={current ? 'Host saved.' : 'Host added; the worker probes it within seconds.'}
      >
        <div className="form-grid">
          <TextField label="Name" value={d.name} onChange={set('name')} error={form.error('name')} />
          <TextField
            label="Docker endpoint"
            value={d.endpoint}
            placeholder="unix:///var/run/docker.sock"
            onChange={set('endpoint')}
            error={form.error('endpoint')}
          />
          <TextField
            label="Build agent group"
            value={d.agentGroup}
            onChange={set('agentGroup')}
            error={form.error('agentGroup')}
            hint="Empty: not a build host."
          />
          <TextField
            label="Builds at once"
            type="number"
            value={d.maxConcurrentBuilds}
            onChange={set('maxConcurrentBuilds')}
            error={form.error('maxConcurrentBuilds')}
          />
        </div>
        <TextArea
          label="Labels"
          value={d.labels}
          placeholder="zone=eu-1"
          onChange={set('labels')}
          error={form.errorWithin('labels')}
          hint="One key=value per line."
        />
        <fieldset>
          <legend>TLS (for tcp:// endpoints)</legend>
          <div className="form-grid">
            <TextArea
              label="CA certificate"
              value={d.ca}
              placeholder="-----BEGIN CERTIFICATE-----"
              disabled={d.removeTls}
              onChange={set('ca')}
              error={form.error('tls.ca')}
              hint={storedHint(current?.tls.caSet, 'PEM; optional.')}
            />
            <TextArea
              label="Client certificate"
              value={d.cert}
              placeholder="-----BEGIN CERTIFICATE-----"
              disabled={d.removeTls}
              onChange={set('cert')}
              error={form.error('tls.cert')}
              hint={storedHint(current?.tls.certSet, 'PEM; optional.')}
            />
            <TextArea
              label="Client key"
              value={d.key}
              autoComplete="off"
              spellCheck={false}
              disabled={d.removeTls}
              onChange={set('key')}
              error={form.error('tls.key')}
              hint={storedHint(current?.tls.keySet, 'PEM; write-only, never shown again.')}
            />
          </div>
          {tlsSet ? (
            <CheckboxField
              label="Remove TLS"
              checked={d.removeTls}
              onChange={(event) => setDraft({ ...d, removeTls: event.target.checked })}
              error={form.error('tls')}
            />
          ) : null}
        </fieldset>
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={form.busy}>
            {current ? 'Save host' : 'Add host'}
          </Button>
          {current ? <Button onClick={onClose}>Cancel</Button> : null}
        </div>
      </Form>
    </Section>
  )
}

/** Docker hosts: endpoint, build agent group, status from the worker's probes. */
export function HostsAdmin() {
  const hosts = useHosts()
  const [editing, setEditing] = useState<Host | null>(null)
  const edit = (host: Host) => {
    setEditing(host)
    requestAnimationFrame(() => document.getElementById('host-form')?.scrollIntoView({ block: 'start' }))
  }
  return (
    <>
      <Section title="Hosts" actions={<Button onClick={hosts.reload}>Refresh</Button>}>
        <Async resource={hosts} what="hosts">
          {(list) =>
            list.length ? (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Endpoint</th>
                      <th scope="col">Status</th>
                      <th scope="col">Docker</th>
                      <th scope="col">Builds</th>
                      <th scope="col">Last seen</th>
                      <th scope="col">
                        <span className="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((host) => (
                      <tr key={host.id}>
                        <td>{host.name}</td>
                        <td>
                          <code>{host.endpoint}</code>
                        </td>
                        <td>
                          <StatusBadge status={host.status} />
                          {host.lastError ? <div className="field-error">{host.lastError}</div> : null}
                        </td>
                        <td>{host.dockerVersion ?? '—'}</td>
                        <td>
                          {host.agentGroup ? `${host.agentGroup} (max ${host.maxConcurrentBuilds})` : 'no'}
                        </td>
                        <td>
                          <Time value={host.lastSeenAt} />
                        </td>
                        <td>
                          <div className="row">
                            <Button aria-label={`Edit ${host.name}`} onClick={() => edit(host)}>
                              Edit
                            </Button>
                            <ActionButton
                              variant="danger"
                              onAction={async () => {
                                if (!window.confirm(`Remove the host ${host.name}?`)) return
                                await api.delete(`/api/hosts/${host.id}`)
                                if (editing?.id === host.id) setEditing(null)
                                invalidate('hosts')
                              }}
                            >
                              Remove
                            </ActionButton>
                          </div>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <Empty>No hosts yet.</Empty>
            )
          }
        </Async>
      </Section>
      <HostForm key={editing?.id ?? 'new'} host={editing} onClose={() => setEditing(null)} />
    </>
  )
}
