import { CreateUserBody, User } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useUsers } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { useMe } from '../app/session.tsx'
import { Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { CheckboxField, TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'

/** Local accounts. */
export function UsersAdmin() {
  const me = useMe()
  const users = useUsers()
  const empty = { email: '', name: '', password: '', isAdmin: false }
  const [d, setDraft] = useState(empty)
  const form = useSubmit(CreateUserBody, async (body) => {
    await api.post('/api/users', body, User)
    setDraft(empty)
    invalidate('users')
  })
  const update = async (id: string, body: object) => {
    await api.patch(`/api/users/${id}`, body, User)
    invalidate('users')
  }
  return (
    <>
      <Section title="Users">
        <Async resource={users} what="users">
          {(list) => (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Email</th>
                    <th scope="col">Administrator</th>
                    <th scope="col">Status</th>
                    <th scope="col">Since</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((u) => (
                    <tr key={u.id}>
                      <td>{u.name}</td>
                      <td>{u.email}</td>
                      <td>{u.isAdmin ? 'yes' : 'no'}</td>
                      <td>
                        {u.disabled ? (
                          <StatusBadge status="canceled" label="disabled" />
                        ) : (
                          <StatusBadge status="live" label="active" />
                        )}
                      </td>
                      <td>
                        <Time value={u.createdAt} />
                      </td>
                      <td>
                        {u.id === me.user.id ? (
                          <span className="muted">you</span>
                        ) : (
                          <ActionButton
                            variant={u.disabled ? 'default' : 'danger'}
                            onAction={() => update(u.id, { disabled: !u.disabled })}
                          >
                            {u.disabled ? 'Enable' : 'Disable'}
                          </ActionButton>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Async>
      </Section>
      <Section title="Add a user">
        <Form
          onSubmit={() => void form.submit(d)}
          state={form}
          label="Add a user"
          savedText="User added; add them to projects under each project's Members."
        >
          <div className="form-grid">
            <TextField
              label="Name"
              value={d.name}
              onChange={(e) => setDraft({ ...d, name: e.target.value })}
              error={form.error('name')}
            />
            <TextField
              label="Email"
              type="email"
              value={d.email}
              onChange={(e) => setDraft({ ...d, email: e.target.value })}
              error={form.error('email')}
            />
            <TextField
              label="Initial password"
              type="password"
              autoComplete="new-password"
              value={d.password}
              onChange={(e) => setDraft({ ...d, password: e.target.value })}
              error={form.error('password')}
              hint="At least 10 characters."
            />
            <CheckboxField
              label="Instance administrator"
              checked={d.isAdmin}
              onChange={(e) => setDraft({ ...d, isAdmin: e.target.checked })}
            />
          </div>
          <Button type="submit" variant="primary" busy={form.busy}>
            Add user
          </Button>
        </Form>
      </Section>
    </>
  )
}
