import { CreateRegistryBody, Registry, UpdateRegistryBody } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useRegistries } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { CheckboxField, TextField } from '../ui/Field.tsx'
import { Form } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Empty, Section } from '../ui/Layout.tsx'
import { changedFields, secretChange, storedHint } from './edits.ts'
import { useRecordForm } from './record-form.ts'

function draftOf(registry: Registry | null) {
  return {
    name: registry?.name ?? '',
    url: registry?.url ?? '',
    username: registry?.username ?? '',
    // Write-only: empty keeps the stored password.
    password: '',
    clearPassword: false,
  }
}

type RegistryDraft = ReturnType<typeof draftOf>

const fieldsOf = (d: RegistryDraft) => ({ name: d.name, url: d.url, username: d.username || null })

/** Adds a registry, or edits `registry` (sending only what changed; the password is write-only). */
function RegistryForm({ registry, onClose }: { registry: Registry | null; onClose: () => void }) {
  const {
    current,
    draft: d,
    setDraft,
    form,
    save,
  } = useRecordForm(registry, {
    draftOf,
    create: CreateRegistryBody,
    update: UpdateRegistryBody,
    post: (body) => api.post('/api/registries', body, Registry),
    patch: (id, body) => api.patch(`/api/registries/${id}`, body, Registry),
    resource: 'registries',
  })
  const submit = () => {
    const password = secretChange(d.password, d.clearPassword)
    if (!current) return save({ ...fieldsOf(d), password: password ?? null })
    save({
      ...changedFields(fieldsOf(draftOf(current)), fieldsOf(d)),
      ...(password === undefined ? {} : { password }),
    })
  }
  const title = current ? `Edit registry ${current.name}` : 'Add a registry'
  return (
    <Section title={title} id="registry-form">
      <Form
        onSubmit={submit}
        state={form}
        label={title}
        savedText={current ? 'Registry saved.' : 'Registry added.'}
      >
        <div className="form-grid">
          <TextField
            label="Name"
            value={d.name}
            onChange={(e) => setDraft({ ...d, name: e.target.value })}
            error={form.error('name')}
          />
          <TextField
            label="Address"
            value={d.url}
            placeholder="registry.example.com:5000"
            onChange={(e) => setDraft({ ...d, url: e.target.value })}
            error={form.error('url')}
          />
          <TextField
            label="User"
            value={d.username}
            autoComplete="off"
            onChange={(e) => setDraft({ ...d, username: e.target.value })}
            error={form.error('username')}
          />
          <TextField
            label="Password"
            type="password"
            autoComplete="new-password"
            value={d.password}
            disabled={d.clearPassword}
            onChange={(e) => setDraft({ ...d, password: e.target.value })}
            error={form.error('password')}
            hint={storedHint(current?.passwordSet, 'Write-only: never shown again.')}
          />
        </div>
        {current?.passwordSet ? (
          <CheckboxField
            label="Clear the password"
            checked={d.clearPassword}
            onChange={(e) => setDraft({ ...d, clearPassword: e.target.checked })}
          />
        ) : null}
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={form.busy}>
            {current ? 'Save registry' : 'Add registry'}
          </Button>
          {current ? <Button onClick={onClose}>Cancel</Button> : null}
        </div>
      </Form>
    </Section>
  )
}

/** Docker registries with write-only passwords. */
export function RegistriesAdmin() {
  const registries = useRegistries()
  const [editing, setEditing] = useState<Registry | null>(null)
  const edit = (registry: Registry) => {
    setEditing(registry)
    requestAnimationFrame(() => document.getElementById('registry-form')?.scrollIntoView({ block: 'start' }))
  }
  return (
    <>
      <Section title="Registries">
        <Async resource={registries} what="registries">
          {(list) =>
            list.length ? (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Address</th>
                      <th scope="col">User</th>
                      <th scope="col">Password</th>
                      <th scope="col">Added</th>
                      <th scope="col">
                        <span className="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((r) => (
                      <tr key={r.id}>
                        <td>{r.name}</td>
                        <td>
                          <code>{r.url}</code>
                        </td>
                        <td>{r.username ?? '—'}</td>
                        <td>{r.passwordSet ? <span className="secret">••••••••</span> : 'none'}</td>
                        <td>
                          <Time value={r.createdAt} />
                        </td>
                        <td>
                          <div className="row">
                            <Button aria-label={`Edit ${r.name}`} onClick={() => edit(r)}>
                              Edit
                            </Button>
                            <ActionButton
                              variant="danger"
                              onAction={async () => {
                                if (!window.confirm(`Remove the registry ${r.name}?`)) return
                                await api.delete(`/api/registries/${r.id}`)
                                if (editing?.id === r.id) setEditing(null)
                                invalidate('registries')
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
              <Empty>No registries yet.</Empty>
            )
          }
        </Async>
      </Section>
      <RegistryForm key={editing?.id ?? 'new'} registry={editing} onClose={() => setEditing(null)} />
    </>
  )
}
