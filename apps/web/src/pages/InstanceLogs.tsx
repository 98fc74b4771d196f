import { ContainerLogs, type InstanceView } from '@slipway/contracts'
import { useEffect, useMemo, useState } from 'react'
import { api } from '../api/client.ts'
import { useResource } from '../api/resource.ts'
import { LogBuffer } from '../logs/buffer.ts'
import { LogViewer } from '../logs/LogViewer.tsx'
import type { LogSource } from '../logs/useStageLog.ts'
import { Button } from '../ui/Button.tsx'
import { SelectField } from '../ui/Field.tsx'

type Instance = ReturnType<typeof InstanceView.parse>

/** The last lines a container wrote (docker logs), in the same viewer as stage logs. */
export function InstanceLogs({
  projectId,
  env,
  instances,
  chosen,
  onChoose,
}: {
  projectId: string
  env: string
  instances: Instance[]
  chosen: string | undefined
  onChoose: (containerId: string) => void
}) {
  const instance = instances.find((i) => i.containerId === chosen)
  const [tail, setTail] = useState('500')
  const key = instance ? `container-logs:${projectId}:${env}:${instance.containerId}:${tail}` : null
  const logs = useResource(key, (signal) =>
    api.get(
      `/api/projects/${projectId}/environments/${env}/instances/${instance!.host}/${instance!.containerId}/logs?tail=${tail}`,
      ContainerLogs,
      { signal, timeoutMs: 30_000 },
    ),
  )
  const [version, setVersion] = useState(0)
  const buffer = useMemo(() => {
    const next = new LogBuffer()
    next.append((logs.data?.lines ?? []).map((text, i) => [i + 1, Number.NaN, text] as const))
    return next
  }, [logs.data])
  useEffect(() => setVersion((v) => v + 1), [])
  const source: LogSource = {
    buffer,
    version,
    state: logs.error ? 'error' : logs.loading ? 'loading' : 'complete',
    error: logs.error?.message,
  }
  return (
    <>
      <div className="row">
        <SelectField
          label="Instance"
          value={chosen ?? ''}
          onChange={(event) => onChoose(event.target.value)}
          options={[
            { value: '', label: 'choose an instance' },
            ...instances.map((i) => ({ value: i.containerId, label: `${i.host} · ${i.id} (${i.state})` })),
          ]}
        />
        <SelectField
          label="Lines"
          value={tail}
          onChange={(event) => setTail(event.target.value)}
          options={['100', '500', '2000', '5000'].map((n) => ({ value: n, label: `last ${n}` }))}
        />
        <Button onClick={logs.reload} disabled={!instance}>
          Refresh
        </Button>
      </div>
      {instance ? (
        <LogViewer
          source={source}
          label={`Container log of ${instance.id}`}
          fileName={`${env}-${instance.id}.log`}
          height={320}
        />
      ) : null}
    </>
  )
}
