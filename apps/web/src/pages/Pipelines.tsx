import { pipelineStatuses } from '@slipway/contracts'
import { useState } from 'react'
import { useMembers, usePipelines } from '../api/queries.ts'
import { useQuery } from '../app/router.tsx'
import { Async } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { SelectField, TextField } from '../ui/Field.tsx'
import { Empty, PageHeader, Section } from '../ui/Layout.tsx'
import { PipelineTable } from './PipelineTable.tsx'
import { LiveIndicator, useProjectScope } from './project-scope.tsx'

/** Every pipeline of the project, newest first, filtered by status, branch and actor. */
export default function Pipelines() {
  const { project, live } = useProjectScope()
  const [query, setQuery] = useQuery()
  const status = query.get('status') ?? ''
  const ref = query.get('ref') ?? ''
  const actor = query.get('actor') ?? ''
  const cursor = query.get('cursor') ?? ''
  const [refText, setRefText] = useState(ref)
  const members = useMembers(project.id)
  const pipelines = usePipelines(project.id, {
    status: status || undefined,
    ref: ref || undefined,
    actor: actor || undefined,
    cursor: cursor || undefined,
  })
  return (
    <>
      <PageHeader title="Pipelines" subtitle={<LiveIndicator state={live} />} />
      <Section title="Filter">
        <form
          className="form-grid"
          aria-label="Filter pipelines"
          onSubmit={(event) => {
            event.preventDefault()
            setQuery({ ref: refText.trim() || undefined, cursor: undefined })
          }}
        >
          <SelectField
            label="Status"
            value={status}
            onChange={(event) => setQuery({ status: event.target.value || undefined, cursor: undefined })}
            options={[
              { value: '', label: 'any status' },
              ...pipelineStatuses.map((s) => ({ value: s, label: s })),
            ]}
          />
          <TextField
            label="Branch or tag"
            value={refText}
            placeholder="e.g. main"
            onChange={(event) => setRefText(event.target.value)}
            onBlur={() => setQuery({ ref: refText.trim() || undefined, cursor: undefined })}
          />
          <SelectField
            label="Started by"
            value={actor}
            onChange={(event) => setQuery({ actor: event.target.value || undefined, cursor: undefined })}
            options={[
              { value: '', label: 'anyone' },
              ...(members.data ?? []).map((m) => ({ value: m.user.id, label: m.user.email })),
            ]}
          />
        </form>
      </Section>
      <Async resource={pipelines} what="pipelines">
        {(data) => (
          <>
            {data.items.length ? (
              <PipelineTable slug={project.slug} pipelines={data.items} />
            ) : (
              <Empty>No pipeline matches.</Empty>
            )}
            <div className="row">
              {cursor ? <Button onClick={() => setQuery({ cursor: undefined })}>Newest</Button> : null}
              {data.nextCursor ? (
                <Button onClick={() => setQuery({ cursor: data.nextCursor ?? undefined })}>
                  Older pipelines
                </Button>
              ) : null}
            </div>
          </>
        )}
      </Async>
    </>
  )
}
