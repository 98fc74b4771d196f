import { CreateRegistryBody, Registry } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useRegistries } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Empty, Section } from '../ui/Layout.tsx'

/** Docker registries with write-only passwords. */
export function RegistriesAdmin() {
  const registries = useRegistries()
  const empty = { name: '', url: '', username: '', password: '' }
  const [d, setDraft] = useState(empty)
  const form = useSubmit(CreateRegistryBody, async (body) => {
    await api.post('/api/registries', body, Registry)
    setDraft(empty)
    invalidate('registries')
  })
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
                          <ActionButton
                            variant="danger"
                            onAction={async () => {
                              if (!window.confirm(`Remove the registry ${r.name}?`)) return
                              await api.delete(`/api/registries/${r.id}`)
                              invalidate('registries')
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
              <Empty>No registries yet.</Empty>
            )
          }
        </Async>
      </Section>
      <Section title="Add a registry">
        <Form
          onSubmit={() =>
            void form.submit({
              name: d.name,
              url: d.url,
              username: d.username || null,
              password: d.password || null,
            })
          }
          state={form}
          label="Add a registry"
          savedText="Registry added."
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
              onChange={(e) => setDraft({ ...d, password: e.target.value })}
              error={form.error('password')}
              hint="Write-only: never shown again."
            />
          </div>
          <Button type="submit" variant="primary" busy={form.busy}>
            Add registry
          </Button>
        </Form>
      </Section>
    </>
  )
}
