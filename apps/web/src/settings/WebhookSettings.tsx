import { Project as ProjectSchema, UpdateProjectBody } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useWebhookDeliveries } from '../api/queries.ts'
import { prime } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { useProjectScope } from '../pages/project-scope.tsx'
import { Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { shortSha, Time } from '../ui/format.tsx'
import { Empty, Facts, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'

/** The GitLab webhook: its URL, its write-only secret token, GitLab status reporting, deliveries. */
export function WebhookSettings() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const denied = reasonIfDenied(can.project('webhook.manage'))
  const [secret, setSecret] = useState('')
  const [gitlab, setGitlab] = useState({
    baseUrl: project.gitlab?.baseUrl ?? '',
    project: project.gitlab?.project ?? '',
    token: '',
  })
  const save = async (body: unknown) => {
    const saved = await api.patch(`/api/projects/${project.id}`, body, ProjectSchema)
    prime(`project:${project.slug}`, saved)
  }
  const secretForm = useSubmit(UpdateProjectBody, async (body) => {
    await save(body)
    setSecret('')
  })
  const gitlabForm = useSubmit(UpdateProjectBody, save)
  const deliveries = useWebhookDeliveries(project.id, !denied)
  const url = `${location.origin}${project.webhook.path}`
  return (
    <>
      <Section title="GitLab webhook">
        <Facts
          items={[
            ['URL to give GitLab', <code key="u">{url}</code>],
            [
              'Secret token',
              project.webhook.secretSet ? (
                <span key="s" className="secret">
                  set ••••••••
                </span>
              ) : (
                'not set (webhook off)'
              ),
            ],
          ]}
        />
        <Form
          onSubmit={() => void secretForm.submit({ webhookSecret: secret })}
          state={secretForm}
          label="Webhook secret"
          savedText="Secret saved. It is never shown again."
        >
          <div className="row">
            <TextField
              label={project.webhook.secretSet ? 'Replace the secret token' : 'Secret token'}
              type="password"
              autoComplete="new-password"
              value={secret}
              onChange={(event) => setSecret(event.target.value)}
              error={secretForm.error('webhookSecret')}
              disabled={Boolean(denied)}
            />
            <Button type="submit" busy={secretForm.busy} disabledReason={denied}>
              Save secret
            </Button>
            {project.webhook.secretSet && !denied ? (
              <ActionButton variant="danger" onAction={() => save({ webhookSecret: null })}>
                Remove secret (turn the webhook off)
              </ActionButton>
            ) : null}
          </div>
        </Form>
      </Section>
      <Section title="GitLab commit status">
        <Form
          onSubmit={() =>
            void gitlabForm.submit({
              gitlab: gitlab.baseUrl
                ? {
                    baseUrl: gitlab.baseUrl,
                    project: gitlab.project,
                    ...(gitlab.token ? { token: gitlab.token } : {}),
                  }
                : null,
            })
          }
          state={gitlabForm}
          label="GitLab"
        >
          <fieldset disabled={Boolean(denied)}>
            <div className="form-grid">
              <TextField
                label="GitLab URL"
                value={gitlab.baseUrl}
                placeholder="https://gitlab.example.com"
                onChange={(event) => setGitlab({ ...gitlab, baseUrl: event.target.value })}
                error={gitlabForm.error('gitlab.baseUrl')}
                hint="Empty turns status reporting off."
              />
              <TextField
                label="GitLab project (id or path)"
                value={gitlab.project}
                onChange={(event) => setGitlab({ ...gitlab, project: event.target.value })}
                error={gitlabForm.error('gitlab.project')}
              />
              <TextField
                label={project.gitlab?.tokenSet ? 'Replace the access token' : 'Access token'}
                type="password"
                autoComplete="new-password"
                value={gitlab.token}
                onChange={(event) => setGitlab({ ...gitlab, token: event.target.value })}
                error={gitlabForm.error('gitlab.token')}
                hint={project.gitlab?.tokenSet ? 'A token is set; leave empty to keep it.' : undefined}
              />
            </div>
          </fieldset>
          <Button type="submit" busy={gitlabForm.busy} disabledReason={denied}>
            Save GitLab settings
          </Button>
        </Form>
      </Section>
      {denied ? null : (
        <Section title="Latest deliveries">
          <Async resource={deliveries} what="deliveries">
            {(rows) =>
              rows.length ? (
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Received</th>
                        <th scope="col">Event</th>
                        <th scope="col">Ref</th>
                        <th scope="col">Commit</th>
                        <th scope="col">Outcome</th>
                      </tr>
                    </thead>
                    <tbody>
                      {rows.map((row) => (
                        <tr key={row.id}>
                          <td>
                            <Time value={row.receivedAt} />
                          </td>
                          <td>{row.event}</td>
                          <td>{row.ref ?? '—'}</td>
                          <td>{row.commitSha ? <code>{shortSha(row.commitSha)}</code> : '—'}</td>
                          <td>
                            <StatusBadge
                              status={
                                row.outcome === 'started'
                                  ? 'succeeded'
                                  : row.outcome === 'rejected'
                                    ? 'failed'
                                    : 'skipped'
                              }
                              label={row.outcome}
                            />{' '}
                            {row.reason ?? ''}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ) : (
                <Empty>No deliveries yet.</Empty>
              )
            }
          </Async>
        </Section>
      )}
    </>
  )
}
