import { CanaryCommandBody, type CanaryState, Pipeline, type Stage } from '@slipway/contracts'
import { canaryCommandRefusal } from '@slipway/policy'
import { useRef, useState } from 'react'
import { api } from '../api/client.ts'
import { prime } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { Button } from '../ui/Button.tsx'
import { Dialog } from '../ui/Dialog.tsx'
import { TextArea } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Time } from '../ui/format.tsx'
import { Facts, Section } from '../ui/Layout.tsx'
import { StatusBadge } from '../ui/Status.tsx'
import { CanaryChart } from './CanaryChart.tsx'
import {
  canaryHeadline,
  canaryIsLive,
  canaryStepRows,
  errorRate,
  msText,
  percentText,
  type StepRow,
  weightsText,
} from './shape.ts'

const phaseStatus: Record<CanaryState['phase'], string> = {
  starting: 'running',
  judging: 'running',
  waiting: 'waiting',
  promoted: 'succeeded',
  'rolled-back': 'rolled_back',
}

const stepStatus: Record<StepRow['status'], string> = {
  pending: 'pending',
  judging: 'running',
  passed: 'succeeded',
  waiting: 'waiting',
  failed: 'failed',
  'rolled-back': 'rolled_back',
  'not run': 'skipped',
}

function Figures({ row, version }: { row: StepRow; version: 'newer' | 'older' }) {
  const figures = row[version]
  if (!figures) return <span className="muted">—</span>
  return (
    <>
      {figures.requests.toLocaleString('en')} req · {percentText(errorRate(figures))} errors · p99{' '}
      {msText(figures.p99Ms)}
    </>
  )
}

function StepTable({ state }: { state: CanaryState }) {
  const rows = canaryStepRows(state)
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">Canary steps</caption>
        <thead>
          <tr>
            <th scope="col">Step</th>
            <th scope="col">Planned</th>
            <th scope="col">Verdict</th>
            <th scope="col">New release</th>
            <th scope="col">Old release</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr
              key={row.number}
              aria-current={row.status === 'judging' || row.status === 'waiting' ? 'step' : undefined}
            >
              <th scope="row">{row.number}</th>
              <td>
                {row.weight}% for ≥ {row.holdSeconds}s and ≥ {row.holdRequests.toLocaleString('en')} requests
                {row.manual ? ', then a person' : ''}
              </td>
              <td>
                <StatusBadge status={stepStatus[row.status]} label={row.status} />
                {row.reason ? <div className="hint">{row.reason}</div> : null}
                {row.elapsedMs !== null ? (
                  <div className="hint">after {Math.round(row.elapsedMs / 1000)}s</div>
                ) : null}
              </td>
              <td>
                <Figures row={row} version="newer" />
              </td>
              <td>
                <Figures row={row} version="older" />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

type Action = 'promote' | 'abort'

/** Promote past a step that waits for a person, or abort (confirmed first); an optional comment. */
function CanaryCommands({
  pipeline,
  stage,
  state,
}: {
  pipeline: Pipeline
  stage: Stage
  state: CanaryState
}) {
  const can = usePermissions(pipeline.projectId)
  const denied = reasonIfDenied(
    can.project('canary.decide', { environmentProtected: stage.environment?.protected ?? true }),
  )
  const [comment, setComment] = useState('')
  const [confirming, setConfirming] = useState(false)
  // Set before the submit, read by the request (a state would reach it one render late).
  const sent = useRef<Action>('promote')
  const form = useSubmit(CanaryCommandBody, async (body) => {
    const updated = await api.post(
      `/api/pipelines/${pipeline.id}/stages/${stage.id}/canary/${sent.current}`,
      body,
      Pipeline,
    )
    prime(`pipeline:${pipeline.id}`, updated)
    setComment('')
    setConfirming(false)
  })
  const send = (action: Action) => {
    sent.current = action
    void form.submit(comment.trim() ? { comment: comment.trim() } : {})
  }
  const refusal = (action: Action) => denied ?? canaryCommandRefusal(state, action) ?? undefined
  const abortRefused = refusal('abort')
  const weight = state.plan.steps[state.step]?.weight
  return (
    <Form
      onSubmit={() => send('promote')}
      state={form}
      label="Promote or abort the canary"
      savedText="Sent: the deploy acts on it within a second or two."
    >
      <TextArea
        label="Comment (optional)"
        value={comment}
        onChange={(event) => setComment(event.target.value)}
        error={form.error('comment')}
        disabled={Boolean(abortRefused)}
        hint="It goes to the audit log with your command."
      />
      <div className="form-actions">
        <Button
          type="submit"
          variant="primary"
          disabledReason={refusal('promote')}
          busy={form.busy && sent.current === 'promote'}
        >
          Promote
        </Button>
        <Button
          variant="danger"
          disabledReason={abortRefused}
          busy={form.busy && sent.current === 'abort'}
          onClick={() => setConfirming(true)}
        >
          Abort
        </Button>
      </div>
      <Dialog open={confirming} title="Abort the canary?" onClose={() => setConfirming(false)}>
        <p>
          The new release's instance leaves the gateway at once
          {weight === undefined ? '' : ` (step ${state.step + 1}, ${weight}% of requests)`} and the old
          release serves alone again. The pipeline's deploy to {stage.environment?.name ?? 'this environment'}{' '}
          fails.
        </p>
        {comment.trim() ? <p>Your comment: “{comment.trim()}”</p> : null}
        <div className="form-actions">
          <Button variant="danger" busy={form.busy} onClick={() => send('abort')}>
            Abort and roll back
          </Button>
          <Button onClick={() => setConfirming(false)}>Keep it running</Button>
        </div>
        {form.formError ? (
          <p className="field-error" role="alert">
            {form.formError}
          </p>
        ) : null}
      </Dialog>
    </Form>
  )
}

/**
 * A deploy stage's canary: where it stands, the gateway's weights, each step's verdict and
 * figures, both versions' error rate and p99 over time, the last command, promote and abort.
 */
export function CanaryPanel({
  pipeline,
  stage,
  state,
}: {
  pipeline: Pipeline
  stage: Stage
  state: CanaryState
}) {
  const live = canaryIsLive(state)
  const stale = live && stage.status !== 'running'
  const environment = stage.environment?.name ?? 'the environment'
  return (
    <Section title={`Canary on ${environment}`} id={`canary-${stage.id}`}>
      <p className="canary-headline" role="status">
        <StatusBadge status={phaseStatus[state.phase]} label={state.phase} /> {canaryHeadline(state)}
      </p>
      {state.phase === 'judging' && state.holding ? <p className="hint">Holding: {state.holding}</p> : null}
      {state.phase === 'promoted' && stage.status === 'running' ? (
        <p className="hint">The rolling deploy replaces the other instances.</p>
      ) : null}
      {stale ? (
        <p className="field-error">
          The deploy stage is {stage.status.replace(/_/g, ' ')}: this is the canary's last recorded state.
        </p>
      ) : null}
      <Facts
        items={[
          ['New release gets', `${state.weight}% of requests`],
          ['Gateway weights', weightsText(state)],
          [
            'Last command',
            state.command ? (
              <span key="c">
                {state.command.action === 'promote' ? 'promoted' : 'aborted'} by {state.command.by} at step{' '}
                {state.command.step + 1}, <Time value={state.command.at} />
              </span>
            ) : (
              'none'
            ),
          ],
          ['Updated', <Time key="u" value={state.updatedAt} />],
        ]}
      />
      <StepTable state={state} />
      <CanaryChart state={state} />
      {live && !stale ? <CanaryCommands pipeline={pipeline} stage={stage} state={state} /> : null}
    </Section>
  )
}
