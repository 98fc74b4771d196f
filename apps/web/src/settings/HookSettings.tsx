import {
  CreateNotificationHookBody,
  NotificationDelivery,
  NotificationHook,
  notificationEvents,
  UpdateNotificationHookBody,
} from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useHooks } from '../api/queries.ts'
import { invalidate, useResource } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { useProjectScope } from '../pages/project-scope.tsx'
import { Alert, Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { CheckboxField, TextField } from '../ui/Field.tsx'
import { Form } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Empty, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { changedFields, secretChange, storedHint } from './edits.ts'
import { useRecordForm } from './record-form.ts'

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

function draftOf(hook: NotificationHook | null) {
  return {
    url: hook?.url ?? '',
    // Write-only: empty keeps the stored secret.
    secret: '',
    events: hook?.events ?? [],
    active: hook?.active ?? true,
  }
}

type HookDraft = ReturnType<typeof draftOf>

/** The draft's plain fields as they go into a body (events in the contract's order). */
const fieldsOf = (d: HookDraft) => ({
  url: d.url,
  events: notificationEvents.filter((event) => d.events.includes(event)),
  active: d.active,
})

/** Adds a hook, or edits `hook` (sending only what changed; the secret is write-only). */
function HookForm({
  projectId,
  hook,
  onClose,
}: {
  projectId: string
  hook: NotificationHook | null
  onClose: () => void
}) {
  const base = `/api/projects/${projectId}/notification-hooks`
  const { current, draft, setDraft, form, save } = useRecordForm(hook, {
    draftOf,
    create: CreateNotificationHookBody,
    update: UpdateNotificationHookBody,
    post: (body) => api.post(base, body, NotificationHook),
    patch: (id, body) => api.patch(`${base}/${id}`, body, NotificationHook),
    resource: `hooks:${projectId}`,
  })
  const submit = () => {
    const secret = secretChange(draft.secret)
    if (!current) return save({ ...fieldsOf(draft), secret: draft.secret })
    save({
      ...changedFields(fieldsOf(draftOf(current)), fieldsOf(draft)),
      ...(secret === undefined ? {} : { secret }),
    })
  }
  const title = current ? 'Edit the hook' : 'Add a hook'
  return (
    <Section title={title} id="hook-form">
      <Form onSubmit={submit} state={form} label={title} savedText={current ? 'Hook saved.' : 'Hook added.'}>
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
            hint={storedHint(
              current?.secretSet,
              'Signs each delivery (X-Slipway-Signature); never shown again.',
            )}
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
          {form.errorWithin('events') ? (
            <div className="field-error">{form.errorWithin('events')}</div>
          ) : null}
        </fieldset>
        <CheckboxField
          label="Active"
          hint="A paused hook delivers nothing."
          checked={draft.active}
          onChange={(event) => setDraft({ ...draft, active: event.target.checked })}
          error={form.error('active')}
        />
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={form.busy}>
            {current ? 'Save hook' : 'Add hook'}
          </Button>
          {current ? <Button onClick={onClose}>Cancel</Button> : null}
        </div>
      </Form>
    </Section>
  )
}

/** Outgoing webhooks on pipeline events, signed with a write-only secret. */
export function HookSettings() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const denied = reasonIfDenied(can.project('webhook.manage'))
  const hooks = useHooks(project.id, !denied)
  const [editing, setEditing] = useState<NotificationHook | null>(null)
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
                      <Button
                        aria-label={`Edit the hook to ${hook.url}`}
                        onClick={() => {
                          setEditing(hook)
                          requestAnimationFrame(() =>
                            document.getElementById('hook-form')?.scrollIntoView({ block: 'start' }),
                          )
                        }}
                      >
                        Edit
                      </Button>
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
                          if (editing?.id === hook.id) setEditing(null)
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
      <HookForm
        key={editing?.id ?? 'new'}
        projectId={project.id}
        hook={editing}
        onClose={() => setEditing(null)}
      />
    </>
  )
}
