import { type ButtonHTMLAttributes, useId, useState } from 'react'

type Variant = 'default' | 'primary' | 'danger' | 'ghost'

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: Variant
  /** Disables the button and says why (shown next to it and read by screen readers). */
  disabledReason?: string | undefined
  busy?: boolean
}

export function Button({
  variant = 'default',
  disabledReason,
  busy,
  className,
  children,
  type = 'button',
  ...props
}: ButtonProps) {
  const reasonId = useId()
  const button = (
    <button
      {...props}
      type={type}
      className={`btn btn-${variant}${className ? ` ${className}` : ''}`}
      disabled={props.disabled || busy || Boolean(disabledReason)}
      aria-busy={busy || undefined}
      aria-describedby={disabledReason ? reasonId : props['aria-describedby']}
      title={disabledReason ?? props.title}
    >
      {children}
      {busy ? <span className="spinner" aria-hidden="true" /> : null}
    </button>
  )
  if (!disabledReason) return button
  return (
    <span className="btn-with-reason">
      {button}
      <span id={reasonId} className="reason">
        {disabledReason}
      </span>
    </span>
  )
}

/**
 * A button that runs an async action, shows that it runs, and puts the action's error next
 * to it in plain words.
 */
export function ActionButton({
  onAction,
  ...props
}: Omit<ButtonProps, 'onClick' | 'busy'> & { onAction: () => Promise<unknown> }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | undefined>()
  const errorId = useId()
  const run = async () => {
    setBusy(true)
    setError(undefined)
    try {
      await onAction()
    } catch (caught) {
      setError((caught as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <span className="action">
      <Button {...props} busy={busy} onClick={run} aria-describedby={error ? errorId : undefined} />
      {error ? (
        <span id={errorId} role="alert" className="field-error">
          {error}
        </span>
      ) : null}
    </span>
  )
}
