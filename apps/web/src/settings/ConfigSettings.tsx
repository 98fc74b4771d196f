import { ConfigSnapshot, PatchConfigBody } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useConfig, useConfigVersions, useEnvironments } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { useProjectScope } from '../pages/project-scope.tsx'
import { Alert, Async } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { SelectField, TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Empty, Section } from '../ui/Layout.tsx'

type Snapshot = ReturnType<typeof ConfigSnapshot.parse>

interface Row {
  key: string
  value: string
  secret: boolean
  /** Existing entry (its key cannot change; it can be removed). */
  existing: boolean
  remove: boolean
}

/** The change set for PATCH .../config: changed variables, new secret values, removals. */
export function changeSet(snapshot: Snapshot, rows: Row[], note: string) {
  const variables: Record<string, string> = {}
  const secrets: Record<string, string> = {}
  const unset: string[] = []
  for (const row of rows) {
    if (!row.key) continue
    if (row.remove) {
      if (row.existing) unset.push(row.key)
      continue
    }
    if (row.secret) {
      if (row.value) secrets[row.key] = row.value
    } else if (snapshot.variables.find((v) => v.key === row.key)?.value !== row.value) {
      variables[row.key] = row.value
    }
  }
  return {
    ...(Object.keys(variables).length ? { variables } : {}),
    ...(Object.keys(secrets).length ? { secrets } : {}),
    ...(unset.length ? { unset } : {}),
    ...(note ? { note } : {}),
  }
}

function rowsOf(snapshot: Snapshot): Row[] {
  return [
    ...snapshot.variables.map((v) => ({
      key: v.key,
      value: v.value,
      secret: false,
      existing: true,
      remove: false,
    })),
    ...snapshot.secrets.map((s) => ({ key: s.key, value: '', secret: true, existing: true, remove: false })),
  ]
}

function ConfigEditor({
  env,
  snapshot,
  denied,
}: {
  env: string
  snapshot: Snapshot
  denied: string | undefined
}) {
  const { project } = useProjectScope()
  const [rows, setRows] = useState(() => rowsOf(snapshot))
  const [note, setNote] = useState('')
  const form = useSubmit(PatchConfigBody, async (body) => {
    await api.patch(`/api/projects/${project.id}/environments/${env}/config`, body, ConfigSnapshot)
    invalidate(`config:${project.id}:${env}`)
  })
  const update = (index: number, patch: Partial<Row>) =>
    setRows(rows.map((row, i) => (i === index ? { ...row, ...patch } : row)))
  return (
    <Form
      onSubmit={() => void form.submit(changeSet(snapshot, rows, note))}
      state={form}
      label={`Config of ${env}`}
      savedText="Saved as a new config version. New releases use it."
    >
      <fieldset disabled={Boolean(denied)}>
        <legend>Version {snapshot.version}</legend>
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
                <th scope="col">Kind</th>
                <th scope="col">Remove</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row, index) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place; new rows have no key yet
                <tr key={index}>
                  <td>
                    {row.existing ? (
                      <code>{row.key}</code>
                    ) : (
                      <input
                        aria-label="Name"
                        value={row.key}
                        onChange={(event) => update(index, { key: event.target.value })}
                      />
                    )}
                    {(form.error(`variables.${row.key}`) ?? form.error(`secrets.${row.key}`)) ? (
                      <div className="field-error">
                        {form.error(`variables.${row.key}`) ?? form.error(`secrets.${row.key}`)}
                      </div>
                    ) : null}
                  </td>
                  <td>
                    <input
                      aria-label={`Value of ${row.key || 'new entry'}`}
                      type={row.secret ? 'password' : 'text'}
                      autoComplete="off"
                      placeholder={row.secret && row.existing ? '•••••••• (set; type to replace)' : ''}
                      value={row.value}
                      onChange={(event) => update(index, { value: event.target.value })}
                    />
                  </td>
                  <td>
                    {row.existing ? (
                      row.secret ? (
                        'secret'
                      ) : (
                        'variable'
                      )
                    ) : (
                      <select
                        aria-label="Kind"
                        value={row.secret ? 'secret' : 'variable'}
                        onChange={(event) => update(index, { secret: event.target.value === 'secret' })}
                      >
                        <option value="variable">variable</option>
                        <option value="secret">secret</option>
                      </select>
                    )}
                  </td>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Remove ${row.key || 'new entry'}`}
                      checked={row.remove}
                      onChange={(event) => update(index, { remove: event.target.checked })}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div className="row">
          <Button
            onClick={() =>
              setRows([...rows, { key: '', value: '', secret: false, existing: false, remove: false }])
            }
          >
            Add a variable or secret
          </Button>
        </div>
        <TextField
          label="Note"
          value={note}
          onChange={(event) => setNote(event.target.value)}
          error={form.error('note')}
        />
      </fieldset>
      <Button type="submit" variant="primary" busy={form.busy} disabledReason={denied}>
        Save as new version
      </Button>
    </Form>
  )
}

/** Per-environment config: variables with values, secrets by name only (write-only). */
export function ConfigSettings() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const readDenied = reasonIfDenied(can.project('config.read'))
  const writeDenied = reasonIfDenied(can.project('config.write'))
  const envs = useEnvironments(project.id)
  const [env, setEnv] = useState('')
  const chosen = env || envs.data?.[0]?.name || ''
  const config = useConfig(project.id, chosen, !readDenied)
  const versions = useConfigVersions(project.id, chosen, !readDenied)
  if (readDenied) return <Alert tone="info">{readDenied}.</Alert>
  return (
    <>
      <Section title="Configuration">
        <SelectField
          label="Environment"
          value={chosen}
          onChange={(event) => setEnv(event.target.value)}
          options={(envs.data ?? []).map((e) => ({ value: e.name, label: e.name }))}
        />
        <p className="hint">
          Every container also gets ENVT (the environment) and PROJ (the project). Secret values are never
          shown again.
        </p>
        {writeDenied ? <Alert tone="info">Read only: {writeDenied}.</Alert> : null}
        <Async resource={config} what="the configuration">
          {(snapshot) => (
            <ConfigEditor
              key={`${chosen}:${snapshot.version}`}
              env={chosen}
              snapshot={snapshot}
              denied={writeDenied}
            />
          )}
        </Async>
      </Section>
      <Section title="Versions">
        <Async resource={versions} what="versions">
          {(list) =>
            list.length ? (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Version</th>
                      <th scope="col">When</th>
                      <th scope="col">By</th>
                      <th scope="col">Note</th>
                      <th scope="col">Names</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((v) => (
                      <tr key={v.id}>
                        <td>v{v.version}</td>
                        <td>
                          <Time value={v.createdAt} />
                        </td>
                        <td>{v.createdBy ?? '—'}</td>
                        <td>{v.note ?? ''}</td>
                        <td>{v.keys.map((k) => (k.secret ? `${k.key} (secret)` : k.key)).join(', ')}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <Empty>No configuration yet.</Empty>
            )
          }
        </Async>
      </Section>
    </>
  )
}
