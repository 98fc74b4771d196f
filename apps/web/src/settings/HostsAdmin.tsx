import { CreateHostBody, Host } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useHosts } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Empty, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { num } from './draft.ts'

/** Docker hosts: endpoint, build agent group, status from the worker's probes. */
export function HostsAdmin() {
  const hosts = useHosts()
  const [d, setDraft] = useState({ name: '', endpoint: '', agentGroup: '', maxConcurrentBuilds: '2' })
  const form = useSubmit(CreateHostBody, async (body) => {
    await api.post('/api/hosts', body, Host)
    setDraft({ name: '', endpoint: '', agentGroup: '', maxConcurrentBuilds: '2' })
    invalidate('hosts')
  })
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
                          <ActionButton
                            variant="danger"
                            onAction={async () => {
                              if (!window.confirm(`Remove the host ${host.name}?`)) return
                              await api.delete(`/api/hosts/${host.id}`)
                              invalidate('hosts')
                            }}
                          >
                            Remove
                          </ActionButton>
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
      <Section title="Add a host">
        <Form
          onSubmit={() =>
            void form.submit({
              name: d.name,
              endpoint: d.endpoint,
              agentGroup: d.agentGroup || null,
              maxConcurrentBuilds: num(d.maxConcurrentBuilds),
            })
          }
          state={form}
          label="Add a host"
          savedText="Host added; the worker probes it within seconds."
        >
          <div className="form-grid">
            <TextField
              label="Name"
              value={d.name}
              onChange={(e) => setDraft({ ...d, name: e.target.value })}
              error={form.error('name')}
            />
            <TextField
              label="Docker endpoint"
              value={d.endpoint}
              placeholder="unix:///var/run/docker.sock"
              onChange={(e) => setDraft({ ...d, endpoint: e.target.value })}
              error={form.error('endpoint')}
            />
            <TextField
              label="Build agent group"
              value={d.agentGroup}
              onChange={(e) => setDraft({ ...d, agentGroup: e.target.value })}
              error={form.error('agentGroup')}
              hint="Empty: not a build host."
            />
            <TextField
              label="Builds at once"
              type="number"
              value={d.maxConcurrentBuilds}
              onChange={(e) => setDraft({ ...d, maxConcurrentBuilds: e.target.value })}
              error={form.error('maxConcurrentBuilds')}
            />
          </div>
          <Button type="submit" variant="primary" busy={form.busy}>
            Add host
          </Button>
        </Form>
      </Section>
    </>
  )
}
