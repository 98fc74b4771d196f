import { Member, PutMemberBody, RoleName } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useMembers, useUsers } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { useProjectScope } from '../pages/project-scope.tsx'
import { Alert, Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { SelectField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Section } from '../ui/Layout.tsx'

const roleOptions = RoleName.options.map((role) => ({ value: role, label: role }))
const roleText: Record<string, string> = {
  admin: 'everything on this project',
  maintainer: 'settings, environments, config, deploy to protected environments, approve',
  developer: 'run, cancel and retry pipelines; deploy to unprotected environments',
  tester: 'approve or reject promotions',
  viewer: 'read only',
}

/** Who is on the project with which role. */
export function MemberSettings() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const denied = reasonIfDenied(can.project('member.manage'))
  const members = useMembers(project.id)
  const users = useUsers(can.instance('user.manage').allowed)
  const [userId, setUserId] = useState('')
  const [role, setRole] = useState('developer')
  const add = useSubmit(PutMemberBody, async (body) => {
    if (!userId) throw new Error('choose a person first')
    await api.put(`/api/projects/${project.id}/members/${userId}`, body, Member)
    invalidate(`members:${project.id}`)
  })
  const setMemberRole = async (id: string, next: string) => {
    await api.put(`/api/projects/${project.id}/members/${id}`, { role: next }, Member)
    invalidate(`members:${project.id}`)
  }
  return (
    <>
      <Section title="Members">
        {denied ? <Alert tone="info">Read only: {denied}.</Alert> : null}
        <Async resource={members} what="members">
          {(list) => (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Person</th>
                    <th scope="col">Role</th>
                    <th scope="col">May</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((m) => (
                    <tr key={m.user.id}>
                      <td>
                        {m.user.name} <span className="muted">{m.user.email}</span>
                      </td>
                      <td>
                        <select
                          aria-label={`Role of ${m.user.email}`}
                          value={m.role}
                          disabled={Boolean(denied)}
                          title={denied}
                          onChange={(event) =>
                            void setMemberRole(m.user.id, event.target.value).catch((error) =>
                              window.alert((error as Error).message),
                            )
                          }
                        >
                          {roleOptions.map((o) => (
                            <option key={o.value} value={o.value}>
                              {o.label}
                            </option>
                          ))}
                        </select>
                      </td>
                      <td className="muted">{roleText[m.role]}</td>
                      <td>
                        {denied ? null : (
                          <ActionButton
                            variant="danger"
                            onAction={async () => {
                              await api.delete(`/api/projects/${project.id}/members/${m.user.id}`)
                              invalidate(`members:${project.id}`)
                            }}
                          >
                            Remove
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
      {denied ? null : (
        <Section title="Add a member">
          <Form
            onSubmit={() => void add.submit({ role })}
            state={add}
            label="Add a member"
            savedText="Added."
          >
            <div className="form-grid">
              <SelectField
                label="Person"
                value={userId}
                onChange={(event) => setUserId(event.target.value)}
                options={[
                  { value: '', label: 'choose…' },
                  ...(users.data ?? []).map((u) => ({ value: u.id, label: `${u.name} (${u.email})` })),
                ]}
              />
              <SelectField
                label="Role"
                value={role}
                onChange={(event) => setRole(event.target.value)}
                options={roleOptions}
                error={add.error('role')}
              />
            </div>
            <Button type="submit" variant="primary" busy={add.busy}>
              Add member
            </Button>
          </Form>
        </Section>
      )}
    </>
  )
}
