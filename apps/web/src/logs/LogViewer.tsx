import { type CSSProperties, memo, type ReactElement, useEffect, useMemo, useRef, useState } from 'react'
import { Button } from '../ui/Button.tsx'
import { localZone } from '../ui/format.tsx'
import { parseAnsi, type Span } from './ansi.ts'
import { visibleRange } from './buffer.ts'
import type { LogSource } from './useStageLog.ts'

const rowHeight = 20
const clockFormat = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  fractionalSecondDigits: 3,
  hourCycle: 'h23',
})
const fullFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'short',
  timeStyle: 'medium',
  hourCycle: 'h23',
})

const stateText: Record<LogSource['state'], string> = {
  loading: 'loading…',
  live: 'live',
  reconnecting: 'reconnecting…',
  complete: 'complete',
  error: 'failed to load',
}

function spanStyle(span: Span): CSSProperties | undefined {
  if (!span.fg && !span.bg && !span.bold && !span.dim && !span.italic && !span.underline) return undefined
  return {
    color: span.fg,
    background: span.bg,
    fontWeight: span.bold ? 700 : undefined,
    opacity: span.dim ? 0.7 : undefined,
    fontStyle: span.italic ? 'italic' : undefined,
    textDecoration: span.underline ? 'underline' : undefined,
  }
}

/** Marks the occurrences of `needle` (lower-case) in a span's text. */
function highlight(text: string, needle: string) {
  if (!needle) return text
  const lower = text.toLowerCase()
  const parts: (string | ReactElement)[] = []
  let at = 0
  for (let found = lower.indexOf(needle); found >= 0; found = lower.indexOf(needle, at)) {
    parts.push(text.slice(at, found))
    parts.push(<mark key={found}>{text.slice(found, found + needle.length)}</mark>)
    at = found + needle.length
  }
  parts.push(text.slice(at))
  return parts
}

const Row = memo(function Row({
  index,
  seq,
  time,
  text,
  needle,
  current,
}: {
  index: number
  seq: number
  time: number
  text: string
  needle: string
  current: boolean
}) {
  const spans = useMemo(() => parseAnsi(text), [text])
  return (
    <div className={`log-row${current ? ' current' : ''}`} style={{ top: index * rowHeight }} data-seq={seq}>
      <span className="log-no">{seq}</span>
      {Number.isFinite(time) ? <span className="log-time">{clockFormat.format(time)}</span> : null}
      <span className="log-text">
        {spans.map((span, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: spans of one line have no other identity
          <span key={i} style={spanStyle(span)}>
            {highlight(span.text, needle)}
          </span>
        ))}
      </span>
    </div>
  )
})

/**
 * A virtualised log: only the rows in view (plus a margin) exist in the page, so 100k lines
 * scroll like 100. ANSI colours, search with next/previous, follow the tail (scrolling up
 * stops following, scrolling to the end resumes), download as text. Times are shown in the
 * viewer's time zone.
 */
export function LogViewer({
  source,
  label,
  fileName,
  height = 420,
}: {
  source: LogSource
  label: string
  fileName: string
  height?: number
}) {
  const { buffer, version, state } = source
  const viewport = useRef<HTMLDivElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const [viewportHeight, setViewportHeight] = useState(height)
  const [follow, setFollow] = useState(true)
  const [query, setQuery] = useState('')
  const [matchIndex, setMatchIndex] = useState(0)
  const count = buffer.length

  const needle = query.trim().toLowerCase()
  // biome-ignore lint/correctness/useExhaustiveDependencies: version says the buffer grew
  const matches = useMemo(() => buffer.search(needle), [buffer, needle, version])
  const currentLine = matches.length ? matches[Math.min(matchIndex, matches.length - 1)] : undefined

  useEffect(() => {
    const element = viewport.current
    if (!element) return
    const observer = new ResizeObserver(() => setViewportHeight(element.clientHeight))
    observer.observe(element)
    return () => observer.disconnect()
  }, [])

  // Follow the tail as lines arrive.
  // biome-ignore lint/correctness/useExhaustiveDependencies: version says the buffer grew
  useEffect(() => {
    const element = viewport.current
    if (!follow || !element) return
    element.scrollTop = element.scrollHeight
    setScrollTop(element.scrollTop)
  }, [follow, version, count])

  const scrollToLine = (index: number) => {
    const element = viewport.current
    if (!element) return
    setFollow(false)
    element.scrollTop = Math.max(0, index * rowHeight - element.clientHeight / 2)
    setScrollTop(element.scrollTop)
  }

  const step = (delta: number) => {
    if (!matches.length) return
    const next = (Math.min(matchIndex, matches.length - 1) + delta + matches.length) % matches.length
    setMatchIndex(next)
    scrollToLine(matches[next]!)
  }

  const onScroll = () => {
    const element = viewport.current
    if (!element) return
    setScrollTop(element.scrollTop)
    const atEnd = element.scrollHeight - element.scrollTop - element.clientHeight < rowHeight * 2
    setFollow(atEnd)
  }

  const download = () => {
    const text = buffer.toText((ms) => fullFormat.format(ms))
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }))
    const link = document.createElement('a')
    link.href = url
    link.download = fileName
    link.click()
    setTimeout(() => URL.revokeObjectURL(url), 10_000)
  }

  const { start, end } = visibleRange(scrollTop, viewportHeight, rowHeight, count)
  const rows = []
  for (let i = start; i < end; i++) {
    rows.push(
      <Row
        key={buffer.seqs[i]}
        index={i}
        seq={buffer.seqs[i]!}
        time={buffer.times[i]!}
        text={buffer.texts[i]!}
        needle={needle}
        current={i === currentLine}
      />,
    )
  }

  return (
    <div className="log" data-lines={count} data-state={state}>
      <div className="log-toolbar">
        <form
          className="log-search"
          aria-label="Search the log"
          onSubmit={(event) => {
            event.preventDefault()
            step(1)
          }}
        >
          <label>
            <span className="visually-hidden">Search the log</span>
            <input
              type="search"
              placeholder="Search the log"
              value={query}
              onChange={(event) => {
                setQuery(event.target.value)
                setMatchIndex(0)
              }}
              onKeyDown={(event) => {
                if (event.key === 'Enter' && event.shiftKey) {
                  event.preventDefault()
                  step(-1)
                }
              }}
            />
          </label>
          <span className="muted" aria-live="polite">
            {needle
              ? `${matches.length ? Math.min(matchIndex, matches.length - 1) + 1 : 0} of ${matches.length}`
              : ''}
          </span>
          <Button onClick={() => step(-1)} disabled={!matches.length} aria-label="Previous match">
            ↑
          </Button>
          <Button type="submit" disabled={!matches.length} aria-label="Next match">
            ↓
          </Button>
        </form>
        <div className="log-controls">
          <span className="muted">
            {count.toLocaleString()} lines · {stateText[state]} · times in {localZone}
          </span>
          <Button
            aria-pressed={follow}
            onClick={() => {
              setFollow(!follow)
            }}
          >
            {follow ? 'Following' : 'Follow'}
          </Button>
          <Button onClick={download} disabled={!count}>
            Download
          </Button>
        </div>
      </div>
      {source.error ? (
        <div className="field-error" role="alert">
          The log could not be loaded: {source.error}
        </div>
      ) : null}
      <div
        ref={viewport}
        className="log-viewport"
        style={{ height }}
        onScroll={onScroll}
        role="log"
        aria-label={label}
      >
        <div className="log-spacer" style={{ height: count * rowHeight }}>
          {rows}
        </div>
        {!count && state !== 'loading' ? <div className="log-empty">No output yet.</div> : null}
      </div>
    </div>
  )
}
