import {
  CreateNotificationHookBody,
  NotificationDelivery,
  NotificationHook,
  notificationEvents,
} from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useHooks } from '../api/queries.ts'
import { invalidate, useResource } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { useProjectScope } from '../pages/ProjectLayout.tsx'
import { Alert, Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { CheckboxField, TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Empty, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'

function Deliveries({ projectId, hookId }: { projectId: string; hookId: string }) {
  const deliveries = useResource(`hooks:${projectId}:${hookId}:deliveries`, (signal) =>
    api.get(
      `/api/projects/${projectId}/notification-hooks/${hookId}/deliveries`,
      NotificationDelivery.array(),
      { signal },
    ),
  )
  return (
    <Async resource={deliveries} what="deliveries">
      {(rows) =>
        rows.length ? (
          <ul>
            {rows.slice(0, 10).map((d) => (
              <li key={d.id}>
                <Time value={d.createdAt} /> {d.event}{' '}
                <StatusBadge
                  status={
                    d.status === 'delivered' ? 'succeeded' : d.status === 'failed' ? 'failed' : 'waiting'
                  }
                  label={d.status}
                />{' '}
                {d.responseStatus ? `HTTP ${d.responseStatus}` : ''} {d.error ?? ''} ({d.attempts} attempt
                {d.attempts === 1 ? '' : 's'})
              </li>
            ))}
          </ul>
        ) : (
          <Empty>Nothing delivered yet.</Empty>
        )
      }
    </Async>
  )
}

/** Outgoing webhooks on pipeline events, signed with a write-only secret. */
export function HookSettings() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const denied = reasonIfDenied(can.project('webhook.manage'))
  const hooks = useHooks(project.id, !denied)
  const [draft, setDraft] = useState({ url: '', secret: '', events: [] as string[] })
  const form = useSubmit(CreateNotificationHookBody, async (body) => {
    await api.post(`/api/projects/${project.id}/notification-hooks`, body, NotificationHook)
    setDraft({ url: '', secret: '', events: [] })
    invalidate(`hooks:${project.id}`)
  })
  if (denied) return <Alert tone="info">{denied}.</Alert>
  const base = `/api/projects/${project.id}/notification-hooks`
  return (
    <>
      <Section title="Notification hooks">
        <Async resource={hooks} what="hooks">
          {(list) =>
            list.length ? (
              list.map((hook) => (
                <div key={hook.id} className="card">
                  <div className="card-head">
                    <h3>
                      <code>{hook.url}</code>{' '}
                      {hook.active ? (
                        <StatusBadge status="live" label="active" />
                      ) : (
                        <StatusBadge status="skipped" label="paused" />
                      )}
                    </h3>
                    <div className="card-actions">
                      <ActionButton
                        onAction={async () => {
                          await api.patch(`${base}/${hook.id}`, { active: !hook.active }, NotificationHook)
                          invalidate(`hooks:${project.id}`)
                        }}
                      >
                        {hook.active ? 'Pause' : 'Resume'}
                      </ActionButton>
                      <ActionButton
                        variant="danger"
                        onAction={async () => {
                          await api.delete(`${base}/${hook.id}`)
                          invalidate(`hooks:${project.id}`)
                        }}
                      >
                        Delete
                      </ActionButton>
                    </div>
                  </div>
                  <p className="muted">
                    Events: {hook.events.length ? hook.events.join(', ') : 'all'} · secret set ••••••••
                  </p>
                  <Deliveries projectId={project.id} hookId={hook.id} />
                </div>
              ))
            ) : (
              <Empty>No hooks yet.</Empty>
            )
          }
        </Async>
      </Section>
      <Section title="Add a hook">
        <Form
          onSubmit={() => void form.submit(draft)}
          state={form}
          label="Add a hook"
          savedText="Hook added."
        >
          <div className="form-grid">
            <TextField
              label="URL"
              value={draft.url}
              placeholder="https://chat.example.com/hook"
              onChange={(event) => setDraft({ ...draft, url: event.target.value })}
              error={form.error('url')}
            />
            <TextField
              label="Signing secret"
              type="password"
              autoComplete="new-password"
              value={draft.secret}
              onChange={(event) => setDraft({ ...draft, secret: event.target.value })}
              error={form.error('secret')}
              hint="Signs each delivery (X-Slipway-Signature); never shown again."
            />
          </div>
          <fieldset>
            <legend>Events (none = all)</legend>
            <div className="row">
              {notificationEvents.map((event) => (
                <CheckboxField
                  key={event}
                  label={event}
                  checked={draft.events.includes(event)}
                  onChange={(change) =>
                    setDraft({
                      ...draft,
                      events: change.target.checked
                        ? [...draft.events, event]
                        : draft.events.filter((e) => e !== event),
                    })
                  }
                />
              ))}
            </div>
          </fieldset>
          <Button type="submit" variant="primary" busy={form.busy}>
            Add hook
          </Button>
        </Form>
      </Section>
    </>
  )
}
