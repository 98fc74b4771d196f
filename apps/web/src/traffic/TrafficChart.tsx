import type { TrafficReport } from '@slipway/contracts'
import { chartBox, failedColor, shapeTraffic } from './shape.ts'

function count(value: number): string {
  return value.toLocaleString('en')
}

function ms(value: number | null): string {
  if (value === null) return '—'
  return value >= 1000
    ? `${(value / 1000).toFixed(2)} s`
    : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`
}

/**
 * What the gateway saw during a rollout: requests per second by release (stacked) and
 * failed requests per second (red, marked), with the totals beside. SVG only.
 */
export function TrafficChart({
  report,
  releaseNumbers,
  title = 'What the gateway saw',
}: {
  report: TrafficReport
  /** Release id -> its number, for labels. */
  releaseNumbers: ReadonlyMap<string, number>
  title?: string
}) {
  const shaped = shapeTraffic(report, releaseNumbers)
  const { totals, latencyMs } = report
  const { width, height, left, right, top, bottom } = chartBox
  const summary = `${count(totals.requests)} requests, ${count(totals.failed)} failed`
  return (
    <figure className="traffic" aria-label={`${title}: ${summary}`}>
      <div className="traffic-chart">
        <svg
          viewBox={`0 0 ${width} ${height}`}
          role="img"
          aria-label={`Requests per second by release; ${summary}`}
        >
          {shaped.yTicks.map((tick) => (
            <g key={tick.value}>
              <line x1={left} x2={width - right} y1={tick.y} y2={tick.y} className="traffic-grid" />
              <text x={left - 6} y={tick.y + 4} textAnchor="end" className="traffic-axis">
                {Number.isInteger(tick.value) ? tick.value : tick.value.toFixed(1)}
              </text>
            </g>
          ))}
          {shaped.xTicks.map((tick) => (
            <text
              key={tick.label}
              x={tick.x}
              y={height - bottom + 16}
              textAnchor="middle"
              className="traffic-axis"
            >
              {tick.label}
            </text>
          ))}
          <text x={left} y={top - 6} className="traffic-axis">
            requests per second
          </text>
          {shaped.layers.map((layer) => (
            <path
              key={layer.release}
              d={layer.area}
              fill={layer.color}
              fillOpacity={0.75}
              stroke={layer.color}
            >
              <title>{`${layer.label}: ${count(layer.total)} requests`}</title>
            </path>
          ))}
          {shaped.failedMarks.map((mark) => (
            <line
              key={`band-${mark.t}`}
              x1={mark.x}
              x2={mark.x}
              y1={top}
              y2={height - bottom}
              stroke={failedColor}
              strokeOpacity={0.35}
            />
          ))}
          {totals.failed > 0 ? (
            <path d={shaped.failedLine} fill="none" stroke={failedColor} strokeWidth={1.5} />
          ) : null}
          {shaped.failedMarks.map((mark) => (
            <circle key={mark.t} cx={mark.x} cy={mark.y} r={3.5} fill={failedColor}>
              <title>{`${count(mark.count)} failed`}</title>
            </circle>
          ))}
        </svg>
        <ul className="traffic-legend">
          {shaped.layers.map((layer) => (
            <li key={layer.release}>
              <span className="traffic-swatch" style={{ background: layer.color }} aria-hidden="true" />
              {layer.label} <span className="muted">{count(layer.total)}</span>
            </li>
          ))}
          <li>
            <span className="traffic-swatch" style={{ background: failedColor }} aria-hidden="true" />
            failed <span className="muted">{count(totals.failed)}</span>
          </li>
        </ul>
      </div>
      <dl className="traffic-totals">
        <dt>Requests</dt>
        <dd>{count(totals.requests)}</dd>
        <dt>Failed</dt>
        <dd className={totals.failed === 0 ? 'traffic-ok' : 'traffic-bad'}>{count(totals.failed)}</dd>
        <dt className="traffic-cause">connection</dt>
        <dd>{count(totals.failedBy.connection)}</dd>
        <dt className="traffic-cause">gateway 5xx</dt>
        <dd>{count(totals.failedBy.gateway5xx)}</dd>
        <dt className="traffic-cause">app 5xx</dt>
        <dd>{count(totals.failedBy.app5xx)}</dd>
        <dt>Client aborts</dt>
        <dd>{count(totals.clientAborts)}</dd>
        <dt>p50</dt>
        <dd>{ms(latencyMs.p50)}</dd>
        <dt>p99</dt>
        <dd>{ms(latencyMs.p99)}</dd>
      </dl>
      {report.complete ? null : (
        <figcaption className="muted">
          The recorder had not caught up when this was stored: the end may be missing.
        </figcaption>
      )}
    </figure>
  )
}
