import { DecisionBody, Pipeline, type Stage } from '@slipway/contracts'
import { useRef, useState } from 'react'
import { api } from '../api/client.ts'
import { useApproval, useInstances } from '../api/queries.ts'
import { prime } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { Async } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { TextArea } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { shortDigest, shortSha, Time } from '../ui/format.tsx'
import { Facts, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'

/** How the environment before the approval serves the digest being approved. */
function PreReleaseHealth({
  projectId,
  env,
  digest,
}: {
  projectId: string
  env: string
  digest: string | null
}) {
  const instances = useInstances(projectId, env)
  return (
    <Async resource={instances} what={`${env} instances`}>
      {(data) => {
        const running = data.instances.filter((i) => i.state === 'running')
        const serving = running.filter((i) => i.inGateway)
        const onDigest = digest ? running.filter((i) => i.image === digest) : []
        const healthy =
          running.length > 0 && serving.length === running.length && onDigest.length === running.length
        return (
          <p data-testid="pre-release-health">
            <StatusBadge status={healthy ? 'healthy' : 'unhealthy'} label={healthy ? 'healthy' : 'check'} />{' '}
            {env}: {running.length} running, {serving.length} in the gateway, {onDigest.length} on this digest
            {data.unreachable.length
              ? `; unreachable: ${data.unreachable.map((u) => u.host).join(', ')}`
              : ''}
          </p>
        )
      }}
    </Async>
  )
}

/**
 * What a tester approves: the exact commit and digest, how the pre-release environment
 * serves it, who decided so far; approve or reject with a comment.
 */
export function ApprovalPanel({
  pipeline,
  stage,
  previousEnv,
}: {
  pipeline: Pipeline
  stage: Stage
  previousEnv: string | undefined
}) {
  const approval = useApproval(pipeline.id, stage.id)
  const can = usePermissions(pipeline.projectId)
  const [comment, setComment] = useState('')
  // Set by the button's click, which runs before the form's submit.
  const decision = useRef<'approve' | 'reject'>('approve')
  const form = useSubmit(DecisionBody, async (body) => {
    const updated = await api.post(
      `/api/pipelines/${pipeline.id}/stages/${stage.id}/${decision.current}`,
      body,
      Pipeline,
    )
    prime(`pipeline:${pipeline.id}`, updated)
    approval.reload()
    setComment('')
  })
  return (
    <Section title={`Approval for ${stage.environment?.name ?? 'the next environment'}`} id="approval">
      <Async resource={approval} what="the approval">
        {(state) => {
          const denied = reasonIfDenied(
            can.approval({
              triggeredByUserId: state.triggeredByUserId,
              approvedByUserIds: state.approvals
                .filter((a) => a.decision === 'approved' && !a.expired)
                .map((a) => a.userId),
              allowSelfApproval: state.allowSelfApproval,
            }),
          )
          const open = state.status === 'waiting'
          const reason = denied ?? (open ? undefined : `this approval is ${state.status}, not waiting`)
          return (
            <>
              <Facts
                items={[
                  ['Status', <StatusBadge key="s" status={state.status} />],
                  [
                    'Commit',
                    <code key="c" title={state.commitSha}>
                      {shortSha(state.commitSha)}
                    </code>,
                  ],
                  ['Ref', <code key="r">{state.ref}</code>],
                  [
                    'Image digest',
                    <code key="d" title={state.imageDigest ?? ''}>
                      {shortDigest(state.imageDigest)}
                    </code>,
                  ],
                  [
                    'Approvals',
                    `${state.approvals.filter((a) => a.decision === 'approved').length} of ${state.required}${
                      state.waitsForDeployer ? ', one from a maintainer or admin (protected environment)' : ''
                    }`,
                  ],
                  ['Triggered by', state.triggeredBy ?? 'webhook'],
                ]}
              />
              {previousEnv ? (
                <PreReleaseHealth
                  projectId={pipeline.projectId}
                  env={previousEnv}
                  digest={state.imageDigest}
                />
              ) : null}
              {state.approvals.length ? (
                <ul className="decisions">
                  {state.approvals.map((a) => (
                    <li key={a.id}>
                      <StatusBadge
                        status={a.decision === 'approved' ? 'succeeded' : 'failed'}
                        label={a.decision}
                      />{' '}
                      by {a.user} <Time value={a.createdAt} />: “{a.comment}”
                    </li>
                  ))}
                </ul>
              ) : null}
              {open ? (
                <Form onSubmit={() => void form.submit({ comment })} state={form} label="Decide">
                  <TextArea
                    label="Comment"
                    name="comment"
                    value={comment}
                    onChange={(event) => setComment(event.target.value)}
                    error={form.error('comment')}
                    disabled={Boolean(reason)}
                    hint="Say what you checked; it goes to the audit log."
                  />
                  <div className="form-actions">
                    <Button
                      type="submit"
                      variant="primary"
                      disabledReason={reason}
                      busy={form.busy && decision.current === 'approve'}
                      onClick={() => {
                        decision.current = 'approve'
                      }}
                    >
                      Approve
                    </Button>
                    <Button
                      type="submit"
                      variant="danger"
                      disabled={Boolean(reason)}
                      title={reason}
                      busy={form.busy && decision.current === 'reject'}
                      onClick={() => {
                        decision.current = 'reject'
                      }}
                    >
                      Reject
                    </Button>
                  </div>
                </Form>
              ) : null}
            </>
          )
        }}
      </Async>
    </Section>
  )
}
