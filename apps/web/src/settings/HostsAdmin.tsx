import {
  CreateHostBody,
  endpointAddress,
  Host,
  type HostCheckResult,
  HostCheckResult as HostCheckResultSchema,
  UpdateHostBody,
} from '@slipway/contracts'
import { useRef, useState } from 'react'
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
    address: host?.address ?? '',
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
    // Empty: the endpoint's own IP address (the API says when there is none).
    address: d.address.trim() || undefined,
    agentGroup: d.agentGroup || null,
    maxConcurrentBuilds: num(d.maxConcurrentBuilds),
    labels,
  }
}

/** Said when the check before adding a host found a problem: nothing was added. */
const checkFailed =
  'The connection check found a problem (below): nothing was added. Fix it, or add the host anyway.'

/** What `POST /api/hosts/check` found, one line per step. */
function CheckResults({ result }: { result: HostCheckResult }) {
  const statusOf = (ok: boolean, label: string) => (
    <StatusBadge status={ok ? 'healthy' : 'unhealthy'} label={label} />
  )
  return (
    <section aria-label="Connection check" className="check-results">
      <h3>Connection check (address {result.address})</h3>
      <ul>
        <li>
          {statusOf(result.docker.ok, result.docker.ok ? 'daemon answers' : 'daemon unreachable')}{' '}
          {result.docker.message}
          {result.docker.code ? <code> {result.docker.code}</code> : null}
        </li>
        {result.registries.map((registry) => (
          <li key={registry.id}>
            {statusOf(registry.ok, `registry ${registry.name}: ${registry.status}`)} {registry.message}
            {registry.code ? <code> {registry.code}</code> : null}
          </li>
        ))}
        {result.registries.length ? null : <li>No registries to reach yet.</li>}
      </ul>
    </section>
  )
}

/**
 * Adds a host, or edits `host` (sending only what changed). TLS parts left empty are kept;
 * "Remove TLS" drops all of them. A new host's connection is checked first (the daemon over
 * its endpoint, and the registries from the daemon): it is added only when every step
 * passed, or when "Add anyway" says so.
 */
function HostForm({ host, onClose }: { host: Host | null; onClose: () => void }) {
  const [check, setCheck] = useState<HostCheckResult | null>(null)
  const addAnyway = useRef(false)
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
    post: async (body) => {
      setCheck(null)
      const result = await api.post('/api/hosts/check', body, HostCheckResultSchema)
      setCheck(result)
      if (!result.ok && !addAnyway.current) throw new Error(checkFailed)
      return api.post('/api/hosts', body, Host)
    },
    patch: (id, body) => api.patch(`/api/hosts/${id}`, body, Host),
    resource: 'hosts',
  })
  /** `anyway`: add the host even if the connection check finds a problem. */
  const submit = (anyway = false) => {
    addAnyway.current = anyway
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
        onSubmit={() => submit()}
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
            label="Address"
            value={d.address}
            placeholder={endpointAddress(d.endpoint) ?? '10.0.0.5'}
            onChange={set('address')}
            error={form.error('address')}
            hint="The IP address of the host its containers are published on and reached at (health checks, gateway). Empty: the endpoint's IP; a unix:// socket or a DNS name needs one."
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
            {current ? 'Save host' : 'Check and add host'}
          </Button>
          {!current && check && !check.ok ? (
            <Button busy={form.busy} onClick={() => submit(true)}>
              Add anyway
            </Button>
          ) : null}
          {current ? <Button onClick={onClose}>Cancel</Button> : null}
        </div>
        {!current && check ? <CheckResults result={check} /> : null}
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
                      <th scope="col">Address</th>
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
                          {host.address ? (
                            <code>{host.address}</code>
                          ) : (
                            <span className="field-error">none: set one to deploy here</span>
                          )}
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
