import { useState } from 'react'
import { useAudit } from '../api/queries.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { useQuery } from '../app/router.tsx'
import { Alert, Async } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { TextField } from '../ui/Field.tsx'
import { Time } from '../ui/format.tsx'
import { Empty, PageHeader, Section } from '../ui/Layout.tsx'
import { useProjectScope } from './project-scope.tsx'

function Change({ before, after }: { before: unknown; after: unknown }) {
  if (before === null && after === null) return null
  return (
    <details>
      <summary>details</summary>
      {before !== null ? (
        <>
          <div className="muted">before</div>
          <pre className="json">{JSON.stringify(before, null, 2)}</pre>
        </>
      ) : null}
      {after !== null ? (
        <>
          <div className="muted">after</div>
          <pre className="json">{JSON.stringify(after, null, 2)}</pre>
        </>
      ) : null}
    </details>
  )
}

/** Who changed what in the project, newest first. */
export default function Audit() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const denied = reasonIfDenied(can.project('audit.read'))
  const [query, setQuery] = useQuery()
  const [action, setAction] = useState(query.get('action') ?? '')
  const audit = useAudit({
    projectId: project.id,
    action: query.get('action') ?? undefined,
    cursor: query.get('cursor') ?? undefined,
  })
  if (denied) return <Alert tone="info">{denied}.</Alert>
  return (
    <>
      <PageHeader
        title="Audit log"
        subtitle={`Every change to ${project.name}, by whom, with before and after.`}
      />
      <Section title="Filter">
        <form
          className="row"
          aria-label="Filter the audit log"
          onSubmit={(event) => {
            event.preventDefault()
            setQuery({ action: action.trim() || undefined, cursor: undefined })
          }}
        >
          <TextField
            label="Action"
            value={action}
            placeholder="e.g. approval.approve"
            onChange={(e) => setAction(e.target.value)}
          />
          <Button type="submit">Filter</Button>
        </form>
      </Section>
      <Async resource={audit} what="the audit log">
        {(page) => (
          <Section title="Events">
            {page.items.length ? (
              <div className="table-wrap">
                <table aria-label="Audit events">
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Who</th>
                      <th scope="col">Action</th>
                      <th scope="col">Target</th>
                      <th scope="col">Change</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.items.map((event) => (
                      <tr key={event.id}>
                        <td>
                          <Time value={event.at} relative={false} />
                        </td>
                        <td>{event.actor}</td>
                        <td>
                          <code>{event.action}</code>
                        </td>
                        <td>
                          {event.targetType}
                          {event.targetId ? (
                            <div className="muted mono">{event.targetId.slice(0, 8)}</div>
                          ) : null}
                        </td>
                        <td>
                          <Change before={event.before} after={event.after} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <Empty>No events match.</Empty>
            )}
            <div className="row">
              {query.get('cursor') ? (
                <Button onClick={() => setQuery({ cursor: undefined })}>Newest</Button>
              ) : null}
              {page.nextCursor ? (
                <Button onClick={() => setQuery({ cursor: page.nextCursor ?? undefined })}>
                  Older events
                </Button>
              ) : null}
            </div>
          </Section>
        )}
      </Async>
    </>
  )
}
