import { Component, type ErrorInfo, type ReactNode, useEffect, useState } from 'react'
import type { Snapshot } from '../api/resource.ts'
import { Button } from './Button.tsx'

export function Alert({
  children,
  tone = 'bad',
  action,
}: {
  children: ReactNode
  tone?: 'bad' | 'warn' | 'info' | 'ok'
  action?: ReactNode
}) {
  return (
    <div className={`alert alert-${tone}`} role={tone === 'bad' ? 'alert' : 'status'}>
      <div>{children}</div>
      {action}
    </div>
  )
}

/** A quiet "loading" that only shows after a moment (fast answers never flash it). */
export function Loading({ what = 'Loading' }: { what?: string }) {
  const [shown, setShown] = useState(false)
  useEffect(() => {
    const timer = setTimeout(() => setShown(true), 200)
    return () => clearTimeout(timer)
  }, [])
  return (
    <div className="loading" role="status" aria-live="polite">
      {shown ? (
        <>
          <span className="spinner" aria-hidden="true" /> {what}…
        </>
      ) : null}
    </div>
  )
}

/**
 * Renders a resource: its data once there, a bounded "loading" (every request has a time
 * limit), or the error with a way to try again. Old data stays while a refresh runs.
 */
export function Async<T>({
  resource,
  what,
  children,
}: {
  resource: Snapshot<T> & { reload: () => void }
  what?: string
  children: (data: T) => ReactNode
}) {
  if (resource.data !== undefined) {
    return (
      <>
        {resource.error ? (
          <Alert tone="warn" action={<Button onClick={resource.reload}>Retry</Button>}>
            Could not refresh: {resource.error.message}
          </Alert>
        ) : null}
        {children(resource.data)}
      </>
    )
  }
  if (resource.error) {
    return (
      <Alert action={<Button onClick={resource.reload}>Try again</Button>}>
        Could not load {what ?? 'this'}: {resource.error.message}
      </Alert>
    )
  }
  return <Loading what={what ? `Loading ${what}` : 'Loading'} />
}

interface BoundaryState {
  error: Error | null
}

/** Catches a crash in a part of the page and says so, instead of a blank screen. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: string }, BoundaryState> {
  override state: BoundaryState = { error: null }

  static getDerivedStateFromError(error: Error): BoundaryState {
    return { error }
  }

  override componentDidCatch(error: Error, info: ErrorInfo) {
    console.error('dashboard error', error, info.componentStack)
  }

  override componentDidUpdate(previous: { resetKey?: string }) {
    if (previous.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null })
  }

  override render() {
    if (!this.state.error) return this.props.children
    return (
      <Alert action={<Button onClick={() => this.setState({ error: null })}>Try again</Button>}>
        This part of the page failed: {this.state.error.message}. Reloading the page may help.
      </Alert>
    )
  }
}
