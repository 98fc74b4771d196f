import type { ChangeEvent } from 'react'
import { Button } from '../ui/Button.tsx'
import { CheckboxField, SelectField, TextField } from '../ui/Field.tsx'
import {
  type CanaryDraft,
  canaryUnavailable,
  maxCanarySteps,
  withStepAdded,
  withStepChanged,
  withStepRemoved,
} from './draft.ts'

const field = 'strategy.canary'

/**
 * The environment's canary strategy: off (rolling deploys only) or steps, each judged on what
 * the gateway measured of both versions, and the thresholds they are judged by.
 */
export function CanaryFields({
  draft,
  onChange,
  error,
  target,
}: {
  draft: CanaryDraft
  onChange: (draft: CanaryDraft) => void
  /** The form's error for a field, by its dotted name in the request body. */
  error: (name: string) => string | undefined
  target: string
}) {
  const unavailable = canaryUnavailable(target)
  const on = draft.enabled && !unavailable
  const text = (key: Exclude<keyof CanaryDraft, 'enabled' | 'steps' | 'sticky'>) => ({
    value: draft[key],
    onChange: (event: ChangeEvent<HTMLInputElement>) => onChange({ ...draft, [key]: event.target.value }),
  })
  const threshold = (name: string) => error(`${field}.thresholds.${name}`)
  // The form takes a percentage where the contract has 0..1: its bounds in the form's terms.
  const rateError = threshold('maxErrorRate') ? 'a percentage from 0 to 100' : undefined
  return (
    <fieldset>
      <legend>Canary</legend>
      <div className="form-grid">
        <SelectField
          label="Deploys of a new release"
          value={on ? 'on' : 'off'}
          onChange={(event) => onChange({ ...draft, enabled: event.target.value === 'on' })}
          disabled={Boolean(unavailable)}
          error={error(field)}
          hint={unavailable}
          options={[
            { value: 'off', label: 'rolling only' },
            { value: 'on', label: 'canary steps, then rolling' },
          ]}
        />
      </div>
      {on ? (
        <>
          <div className="hint canary-explain">
            <p>
              One instance of the new release joins the live ones and gets each step's share of requests
              (gateway weights, no reload). Once it has served the minimum of requests, each step is judged on
              what the gateway measured of both versions over the step: error rate (connection errors and 5xx)
              and p99 latency, against the thresholds below, absolute and relative to the old release.
            </p>
            <p>
              A failed step rolls back at once: the old release serves alone again. After the last step the
              rolling deploy replaces the rest. A step that waits for a person needs a promote from the
              pipeline page (by a tester or maintainer, or a developer where the environment is not
              protected); an abort rolls back at any step. Rollbacks, scaling and redeploys roll at once,
              without steps.
            </p>
          </div>
          {draft.steps.map((step, index) => {
            const at = `${field}.steps.${index}`
            return (
              // Steps have no identity of their own: their place is what the errors name.
              // biome-ignore lint/suspicious/noArrayIndexKey: see above
              <fieldset key={index} className="canary-step">
                <legend>Step {index + 1}</legend>
                <div className="canary-step-fields">
                  <TextField
                    label="Share to the new release (%)"
                    type="number"
                    min={1}
                    max={99}
                    value={step.weight}
                    onChange={(event) =>
                      onChange(withStepChanged(draft, index, { weight: event.target.value }))
                    }
                    error={error(`${at}.weight`)}
                  />
                  <TextField
                    label="Hold at least (s)"
                    type="number"
                    min={0}
                    value={step.holdSeconds}
                    onChange={(event) =>
                      onChange(withStepChanged(draft, index, { holdSeconds: event.target.value }))
                    }
                    error={error(`${at}.holdSeconds`)}
                  />
                  <TextField
                    label="and requests to it"
                    type="number"
                    min={0}
                    value={step.holdRequests}
                    onChange={(event) =>
                      onChange(withStepChanged(draft, index, { holdRequests: event.target.value }))
                    }
                    error={error(`${at}.holdRequests`)}
                  />
                  <CheckboxField
                    label="Wait for a person"
                    checked={step.manual}
                    onChange={(event) =>
                      onChange(withStepChanged(draft, index, { manual: event.target.checked }))
                    }
                    error={error(`${at}.manual`)}
                  />
                  <div className="canary-step-remove">
                    <Button
                      variant="ghost"
                      onClick={() => onChange(withStepRemoved(draft, index))}
                      disabledReason={draft.steps.length <= 1 ? 'A canary has at least one step.' : undefined}
                      aria-label={`Remove step ${index + 1}`}
                    >
                      Remove
                    </Button>
                  </div>
                </div>
              </fieldset>
            )
          })}
          {error(`${field}.steps`) ? (
            <p className="field-error" role="alert">
              {error(`${field}.steps`)}
            </p>
          ) : null}
          <div className="form-actions">
            <Button
              onClick={() => onChange(withStepAdded(draft))}
              disabledReason={
                draft.steps.length >= maxCanarySteps
                  ? `A canary has at most ${maxCanarySteps} steps.`
                  : undefined
              }
            >
              Add a step
            </Button>
          </div>
          <CheckboxField
            label="Sticky sessions"
            checked={draft.sticky}
            onChange={(event) => onChange({ ...draft, sticky: event.target.checked })}
            hint="A gateway cookie keeps each client on the instance, so the version, that first answered it (the app never sees it). Without it every request is balanced by the step's weights alone. Changing it reloads the gateway once."
            error={error(`${field}.sticky`)}
          />
          <fieldset>
            <legend>Thresholds (every step)</legend>
            <div className="form-grid">
              <TextField
                label="Minimum requests"
                type="number"
                min={1}
                hint="To the new release, before a step is judged."
                {...text('minRequests')}
                error={threshold('minRequests')}
              />
              <TextField
                label="Max error rate (%)"
                type="number"
                min={0}
                max={100}
                step="any"
                hint="Of the new release's requests."
                {...text('maxErrorRatePercent')}
                error={rateError}
              />
              <TextField
                label="Max error rate ratio"
                type="number"
                min={1}
                step="any"
                hint="Against the old release's, when it erred too."
                {...text('maxErrorRateRatio')}
                error={threshold('maxErrorRateRatio')}
              />
              <TextField
                label="Max p99 (ms)"
                type="number"
                min={1}
                hint="Empty: no absolute bound."
                {...text('maxP99Ms')}
                error={threshold('maxP99Ms')}
              />
              <TextField
                label="Max p99 ratio"
                type="number"
                min={1}
                step="any"
                hint="Against the old release's p99, at steps where the new instance carries no more requests than an old one."
                {...text('maxP99Ratio')}
                error={threshold('maxP99Ratio')}
              />
            </div>
          </fieldset>
        </>
      ) : null}
    </fieldset>
  )
}
