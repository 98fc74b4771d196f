import type { ChangeEvent } from 'react'
import { useInfrastructureChoices } from '../api/queries.ts'
import { Button } from '../ui/Button.tsx'
import { CheckboxField, SelectField } from '../ui/Field.tsx'

/** What the hint under a host says: its status and, for build hosts, the agent group. */
function hostHint(host: { status: string; agentGroup?: string | null }): string {
  return host.agentGroup ? `${host.status} · builds for ${host.agentGroup}` : host.status
}

/**
 * The hosts an environment deploys to. Maintainers pick from every host of the installation
 * (`GET /api/projects/:p/infrastructure-choices`); others see the current ones, read only.
 */
export function HostPicker({
  projectId,
  current,
  chosen,
  onChange,
  canManage,
  error,
}: {
  projectId: string
  /** The environment's hosts now (shown while the choices load, or to people who cannot change them). */
  current: { id: string; name: string; status: string }[]
  chosen: string[]
  onChange: (hostIds: string[]) => void
  canManage: boolean
  error: string | undefined
}) {
  const choices = useInfrastructureChoices(projectId, canManage)
  const hosts: { id: string; name: string; status: string; agentGroup?: string | null }[] =
    choices.data?.hosts ?? current
  return (
    <fieldset>
      <legend>Hosts</legend>
      {canManage && choices.error && !choices.data ? (
        <p className="field-error" role="alert">
          The list of hosts could not be loaded: {choices.error.message}{' '}
          <Button onClick={choices.reload}>Retry</Button>
        </p>
      ) : null}
      {canManage && choices.loading && !choices.data ? <p className="hint">Loading the hosts…</p> : null}
      {canManage && choices.data && !hosts.length ? (
        <p className="hint">There are no hosts yet; an administrator adds them under Admin → Hosts.</p>
      ) : null}
      <div className="row">
        {hosts.map((host) => (
          <CheckboxField
            key={host.id}
            label={host.name}
            hint={hostHint(host)}
            checked={chosen.includes(host.id)}
            onChange={(event) =>
              onChange(event.target.checked ? [...chosen, host.id] : chosen.filter((id) => id !== host.id))
            }
          />
        ))}
      </div>
      {error ? <div className="field-error">{error}</div> : null}
    </fieldset>
  )
}

/**
 * The registry the project's images are pushed to, picked by name. Only maintainers may
 * list the registries; others see whether one is set.
 */
export function RegistrySelect({
  projectId,
  value,
  onChange,
  canManage,
  error,
}: {
  projectId: string
  value: string
  onChange: (event: ChangeEvent<HTMLSelectElement>) => void
  canManage: boolean
  error: string | undefined
}) {
  const choices = useInfrastructureChoices(projectId, canManage)
  const registries = choices.data?.registries
  let options: { value: string; label: string }[]
  let hint: string | undefined
  if (registries) {
    options = [
      { value: '', label: 'none' },
      ...registries.map((r) => ({ value: r.id, label: `${r.name} (${r.url})` })),
    ]
    if (value && !registries.some((r) => r.id === value))
      options.push({ value, label: 'a registry that no longer exists' })
  } else {
    const known = value ? 'set' : 'none'
    options = [{ value, label: canManage ? (choices.error ? known : 'loading…') : known }]
    hint = canManage
      ? choices.error
        ? `The registries could not be loaded: ${choices.error.message}`
        : undefined
      : 'Maintainers see and pick the registry by name.'
  }
  return (
    <SelectField
      label="Registry"
      name="registryId"
      value={value}
      onChange={onChange}
      error={error}
      hint={hint}
      options={options}
    />
  )
}
