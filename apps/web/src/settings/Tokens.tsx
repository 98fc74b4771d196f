import { CreatedToken, CreateTokenBody } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useTokens } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { Alert, Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Empty, PageHeader, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { num } from './draft.ts'

/** Personal API tokens: the token itself is shown once, right after it is made. */
export default function Tokens() {
  const tokens = useTokens()
  const [name, setName] = useState('')
  const [days, setDays] = useState('')
  const [created, setCreated] = useState<string | null>(null)
  const form = useSubmit(CreateTokenBody, async (body) => {
    const token = await api.post('/api/tokens', body, CreatedToken)
    setCreated(token.token)
    setName('')
    invalidate('tokens')
  })
  return (
    <>
      <PageHeader title="API tokens" subtitle="For scripts and CI: send as Authorization: Bearer <token>." />
      <Section title="New token">
        <Form
          onSubmit={() => void form.submit({ name, expiresInDays: num(days) })}
          state={form}
          label="New token"
        >
          <div className="form-grid">
            <TextField
              label="Name"
              value={name}
              onChange={(event) => setName(event.target.value)}
              error={form.error('name')}
            />
            <TextField
              label="Expires after (days)"
              type="number"
              value={days}
              onChange={(event) => setDays(event.target.value)}
              error={form.error('expiresInDays')}
              hint="Empty: never."
            />
          </div>
          <Button type="submit" variant="primary" busy={form.busy}>
            Create token
          </Button>
        </Form>
        {created ? (
          <Alert tone="ok" action={<Button onClick={() => setCreated(null)}>Done</Button>}>
            Copy it now, it is not shown again: <code data-testid="new-token">{created}</code>
          </Alert>
        ) : null}
      </Section>
      <Section title="Your tokens">
        <Async resource={tokens} what="tokens">
          {(list) =>
            list.length ? (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Starts with</th>
                      <th scope="col">Created</th>
                      <th scope="col">Last used</th>
                      <th scope="col">Expires</th>
                      <th scope="col">
                        <span className="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((token) => (
                      <tr key={token.id}>
                        <td>{token.name}</td>
                        <td>
                          <code>{token.prefix}…</code>
                        </td>
                        <td>
                          <Time value={token.createdAt} />
                        </td>
                        <td>
                          <Time value={token.lastUsedAt} />
                        </td>
                        <td>
                          {token.expiresAt ? <Time value={token.expiresAt} relative={false} /> : 'never'}
                        </td>
                        <td>
                          {token.revokedAt ? (
                            <StatusBadge status="canceled" label="revoked" />
                          ) : (
                            <ActionButton
                              variant="danger"
                              onAction={async () => {
                                await api.delete(`/api/tokens/${token.id}`)
                                invalidate('tokens')
                              }}
                            >
                              Revoke
                            </ActionButton>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <Empty>No tokens yet.</Empty>
            )
          }
        </Async>
      </Section>
    </>
  )
}
