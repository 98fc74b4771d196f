import {
  CreateEnvironmentBody,
  type Environment,
  Environment as EnvironmentSchema,
  UpdateEnvironmentBody,
} from '@slipway/contracts'
import { type ChangeEvent, useState } from 'react'
import { api } from '../api/client.ts'
import { useEnvironments } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { CanaryFields } from '../canary/CanaryFields.tsx'
import { canaryBody, canaryDraftOf, canaryUnavailable } from '../canary/draft.ts'
import { useProjectScope } from '../pages/project-scope.tsx'
import { Alert, Async } from '../ui/Async.tsx'
import { ActionButton, Button } from '../ui/Button.tsx'
import { CheckboxField, SelectField, TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Section } from '../ui/Layout.tsx'
import { countOrPercent, num } from './draft.ts'
import { HostPicker } from './InfrastructureFields.tsx'

function draftOf(env?: Environment) {
  const s = env?.strategy
  return {
    name: env?.name ?? '',
    position: String(env?.position ?? 0),
    replicas: String(env?.replicas ?? 1),
    protected: env?.protected ?? false,
    requiredApprovals: String(env?.requiredApprovals ?? 0),
    allowSelfApproval: env?.allowSelfApproval ?? false,
    approvalTtlMinutes: env?.approvalTtlMinutes == null ? '' : String(env.approvalTtlMinutes),
    gatewayPort: env?.gatewayPort == null ? '' : String(env.gatewayPort),
    hostIds: env?.hosts.map((h) => h.id) ?? [],
    target: env?.target ?? 'docker-hosts',
    batchSize: String(s?.batchSize ?? 'auto'),
    maxUnavailable: String(s?.maxUnavailable ?? 0),
    maxSurge: String(s?.maxSurge ?? '100%'),
    drainSeconds: String(s?.drainSeconds ?? 2),
    onPullFailure: s?.onPullFailure ?? 'abort',
    healthTimeoutSeconds: String(s?.healthTimeoutSeconds ?? 60),
    monitorSeconds: String(s?.monitorSeconds ?? 5),
    canary: canaryDraftOf(s?.canary),
  }
}
type Draft = ReturnType<typeof draftOf>

function bodyOf(d: Draft) {
  return {
    name: d.name,
    position: num(d.position),
    replicas: num(d.replicas),
    protected: d.protected,
    requiredApprovals: num(d.requiredApprovals),
    allowSelfApproval: d.allowSelfApproval,
    approvalTtlMinutes: num(d.approvalTtlMinutes) ?? null,
    gatewayPort: num(d.gatewayPort) ?? null,
    hostIds: d.hostIds,
    target: d.target,
    strategy: {
      batchSize: d.batchSize.trim() === 'auto' ? 'auto' : countOrPercent(d.batchSize),
      maxUnavailable: countOrPercent(d.maxUnavailable),
      maxSurge: countOrPercent(d.maxSurge),
      drainSeconds: num(d.drainSeconds),
      onPullFailure: d.onPullFailure,
      healthTimeoutSeconds: num(d.healthTimeoutSeconds),
      monitorSeconds: num(d.monitorSeconds),
      canary: canaryBody(d.canary, !canaryUnavailable(d.target)),
    },
  }
}

function EnvironmentForm({ env, denied }: { env?: Environment; denied: string | undefined }) {
  const { project } = useProjectScope()
  const [d, setDraft] = useState(() => draftOf(env))
  const path = `/api/projects/${project.id}/environments`
  const form = useSubmit<unknown>(env ? UpdateEnvironmentBody : CreateEnvironmentBody, async (body) => {
    if (env) await api.patch(`${path}/${env.name}`, body, EnvironmentSchema)
    else {
      await api.post(path, body, EnvironmentSchema)
      setDraft(draftOf())
    }
    invalidate(`envs:${project.id}`)
  })
  const text = (key: Exclude<keyof Draft, 'canary'>) => ({
    value: String(d[key]),
    onChange: (event: ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
      setDraft({ ...d, [key]: event.target.value }),
  })
  const e = form.error
  return (
    <Form
      onSubmit={() => void form.submit(bodyOf(d))}
      state={form}
      label={env ? `Environment ${env.name}` : 'New environment'}
    >
      <fieldset disabled={Boolean(denied)}>
        <div className="form-grid">
          <TextField label="Name" {...text('name')} error={e('name')} />
          <TextField
            label="Position in the pipeline"
            type="number"
            {...text('position')}
            error={e('position')}
          />
          <TextField label="Replicas" type="number" {...text('replicas')} error={e('replicas')} />
          <TextField label="Gateway port" type="number" {...text('gatewayPort')} error={e('gatewayPort')} />
          <SelectField
            label="Runs on"
            {...text('target')}
            error={e('target')}
            hint={
              d.target === 'swarm'
                ? 'Pick one host: the Swarm manager. Swarm places and updates the tasks (secrets as /run/secrets files); the gateway routes to them.'
                : "Slipway's rolling engine starts and health-checks every instance on the hosts below."
            }
            options={[
              { value: 'docker-hosts', label: 'Docker hosts' },
              { value: 'swarm', label: 'Docker Swarm' },
            ]}
          />
        </div>
        <fieldset>
          <legend>Protection</legend>
          <div className="form-grid">
            <CheckboxField
              label="Protected (maintainers deploy, approvals needed)"
              checked={d.protected}
              onChange={(event) => setDraft({ ...d, protected: event.target.checked })}
            />
            <TextField
              label="Approvals required"
              type="number"
              {...text('requiredApprovals')}
              error={e('requiredApprovals')}
            />
            <CheckboxField
              label="Whoever triggered may approve"
              checked={d.allowSelfApproval}
              onChange={(event) => setDraft({ ...d, allowSelfApproval: event.target.checked })}
            />
            <TextField
              label="Approval expires after (minutes)"
              type="number"
              {...text('approvalTtlMinutes')}
              error={e('approvalTtlMinutes')}
              hint="Empty: never."
            />
          </div>
        </fieldset>
        <HostPicker
          projectId={project.id}
          current={env?.hosts ?? []}
          chosen={d.hostIds}
          onChange={(hostIds) => setDraft({ ...d, hostIds })}
          canManage={!denied}
          error={e('hostIds')}
        />
        <fieldset>
          <legend>Rollout</legend>
          <div className="form-grid">
            <TextField
              label="Batch size"
              {...text('batchSize')}
              error={e('strategy.batchSize')}
              hint='"auto", a count or "25%".'
            />
            <TextField
              label="Max unavailable"
              {...text('maxUnavailable')}
              error={e('strategy.maxUnavailable')}
            />
            <TextField label="Max surge" {...text('maxSurge')} error={e('strategy.maxSurge')} />
            <TextField
              label="Drain (s)"
              type="number"
              hint="At most: ends when the gateway's requests to the old instance are done."
              {...text('drainSeconds')}
              error={e('strategy.drainSeconds')}
            />
            <TextField
              label="Health timeout (s)"
              type="number"
              {...text('healthTimeoutSeconds')}
              error={e('strategy.healthTimeoutSeconds')}
            />
            <TextField
              label="Swarm monitor (s)"
              type="number"
              hint="Swarm only: how long each updated batch is watched before the next; a task failing in it rolls the service back."
              {...text('monitorSeconds')}
              error={e('strategy.monitorSeconds')}
            />
            <SelectField
              label="When a host cannot pull"
              {...text('onPullFailure')}
              options={[
                { value: 'abort', label: 'stop the rollout' },
                { value: 'skip-host', label: 'leave the host out' },
              ]}
            />
          </div>
        </fieldset>
        <CanaryFields
          draft={d.canary}
          onChange={(canary) => setDraft({ ...d, canary })}
          error={e}
          target={d.target}
        />
      </fieldset>
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={form.busy} disabledReason={denied}>
          {env ? `Save ${env.name}` : 'Add environment'}
        </Button>
        {env && !denied ? (
          <ActionButton
            variant="danger"
            onAction={async () => {
              if (!window.confirm(`Delete the environment ${env.name}?`)) return
              await api.delete(`${path}/${env.name}`)
              invalidate(`envs:${project.id}`)
            }}
          >
            Delete {env.name}
          </ActionButton>
        ) : null}
      </div>
    </Form>
  )
}

/** Environments and their protection, hosts and rollout strategy. */
export function EnvironmentSettings() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const denied = reasonIfDenied(can.project('environment.manage'))
  const envs = useEnvironments(project.id)
  return (
    <>
      {denied ? <Alert tone="info">Read only: {denied}.</Alert> : null}
      <Async resource={envs} what="environments">
        {(list) =>
          list.map((env) => (
            <Section key={env.id} title={env.name}>
              <EnvironmentForm key={env.updatedAt.getTime()} env={env} denied={denied} />
            </Section>
          ))
        }
      </Async>
      {denied ? null : (
        <Section title="Add an environment">
          <EnvironmentForm denied={denied} />
        </Section>
      )}
    </>
  )
}
