import type { CanaryState } from '@slipway/contracts'
import { chartBox, failedColor } from '../traffic/shape.ts'
import { type CanaryMetric, msText, shapeCanaryChart } from './shape.ts'

const colors = { newer: '#2456c7', older: '#8a94a6' } as const

const titles: Record<CanaryMetric, string> = {
  errorRate: 'error rate',
  p99: 'p99 latency',
}

function valueText(metric: CanaryMetric, value: number | null): string {
  if (value === null) return '—'
  if (metric === 'p99') return msText(value)
  return `${Number(value.toFixed(2))}%`
}

function axisText(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(2)))
}

/** One metric of both versions over time, each step's start marked, the absolute limit dashed. SVG only. */
function MetricChart({ state, metric }: { state: CanaryState; metric: CanaryMetric }) {
  const shaped = shapeCanaryChart(state, metric)
  const { width, height, left, right, top, bottom } = chartBox
  const title = titles[metric]
  const summary = shaped.lines.map((line) => `${line.label} ${valueText(metric, line.last)}`).join(', ')
  return (
    <div className="traffic-chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title} over the steps: ${summary}`}>
        {shaped.yTicks.map((tick) => (
          <g key={tick.value}>
            <line x1={left} x2={width - right} y1={tick.y} y2={tick.y} className="traffic-grid" />
            <text x={left - 6} y={tick.y + 4} textAnchor="end" className="traffic-axis">
              {axisText(tick.value)}
            </text>
          </g>
        ))}
        {shaped.xTicks.map((tick) => (
          <text key={tick.x} x={tick.x} y={height - bottom + 16} textAnchor="middle" className="traffic-axis">
            {tick.label}
          </text>
        ))}
        <text x={left} y={top - 6} className="traffic-axis">
          {title} ({shaped.unit}), over each step so far
        </text>
        {shaped.steps.map((step) => (
          <g key={step.x}>
            {step.first ? null : (
              <line x1={step.x} x2={step.x} y1={top} y2={height - bottom} className="canary-step-mark" />
            )}
            {step.label ? (
              <text x={step.x + 3} y={top + 10} className="traffic-axis">
                {step.label}
              </text>
            ) : null}
          </g>
        ))}
        {shaped.limit ? (
          <line
            x1={left}
            x2={width - right}
            y1={shaped.limit.y}
            y2={shaped.limit.y}
            stroke={failedColor}
            strokeDasharray="4 3"
          >
            <title>{`limit: ${valueText(metric, shaped.limit.value)}`}</title>
          </line>
        ) : null}
        {shaped.lines.map((line) => (
          <path key={line.version} d={line.path} fill="none" stroke={colors[line.version]} strokeWidth={1.8}>
            <title>{`${line.label}: ${valueText(metric, line.last)}`}</title>
          </path>
        ))}
      </svg>
      <ul className="traffic-legend">
        {shaped.lines.map((line) => (
          <li key={line.version}>
            <span className={`traffic-swatch canary-swatch-${line.version}`} aria-hidden="true" />
            {line.label} <span className="muted">{valueText(metric, line.last)}</span>
          </li>
        ))}
        {shaped.limit ? (
          <li>
            <span className="traffic-swatch canary-swatch-limit" aria-hidden="true" />
            limit <span className="muted">{valueText(metric, shaped.limit.value)}</span>
          </li>
        ) : null}
      </ul>
    </div>
  )
}

/** Each version's error rate and p99 over the canary's steps, as the judge saw them. */
export function CanaryChart({ state }: { state: CanaryState }) {
  if (!state.samples.length)
    return <p className="muted">No figures yet: the gateway's counts come once a second.</p>
  return (
    <figure className="traffic" aria-label="What the gateway measured of each version">
      <MetricChart state={state} metric="errorRate" />
      <MetricChart state={state} metric="p99" />
    </figure>
  )
}
