import { type FormEvent, type ReactNode, useState } from 'react'
import { ApiError } from '../api/client.ts'
import { Alert } from './Async.tsx'

/** zod's safeParse, structurally: the contract schemas validate forms before they are sent. */
export interface SafeParser<T> {
  safeParse(
    input: unknown,
  ):
    | { success: true; data: T }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } }
}

/** Issues of a failed parse as field name -> first message. */
export function issuesToFields(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const issue of issues) {
    const key = issue.path.map(String).join('.') || '_form'
    fields[key] ??= issue.message
  }
  return fields
}

export interface FormState {
  busy: boolean
  /** Field name (dotted, as in the request body) -> message. */
  errors: Record<string, string>
  /** An error that belongs to no field. */
  formError: string | undefined
  done: boolean
}

/**
 * Submits a form body: checks it with the request's contract schema first (errors by the
 * field at once), then sends it; the API's own field errors land by the same fields.
 */
export function useSubmit<T>(schema: SafeParser<T>, send: (body: T) => Promise<unknown>) {
  const [state, setState] = useState<FormState>({
    busy: false,
    errors: {},
    formError: undefined,
    done: false,
  })
  const submit = async (raw: unknown): Promise<boolean> => {
    const parsed = schema.safeParse(raw)
    if (!parsed.success) {
      const errors = issuesToFields(parsed.error.issues)
      setState({ busy: false, errors, formError: errors._form ?? 'Some fields need attention.', done: false })
      return false
    }
    setState({ busy: true, errors: {}, formError: undefined, done: false })
    try {
      await send(parsed.data)
      setState({ busy: false, errors: {}, formError: undefined, done: true })
      return true
    } catch (error) {
      const fields = error instanceof ApiError ? error.fields : {}
      setState({ busy: false, errors: fields, formError: (error as Error).message, done: false })
      return false
    }
  }
  /** Errors found before the schema (text the form could not read), by field as above. */
  const reject = (errors: Record<string, string>) =>
    setState({ busy: false, errors, formError: errors._form ?? 'Some fields need attention.', done: false })
  const error = (name: string) => state.errors[name]
  /** The field's error, or the first one inside it named by its part (`zone: …` for `labels.zone`). */
  const errorWithin = (name: string) => {
    if (state.errors[name]) return state.errors[name]
    const inner = Object.entries(state.errors).find(([key]) => key.startsWith(`${name}.`))
    return inner ? `${inner[0].slice(name.length + 1)}: ${inner[1]}` : undefined
  }
  return { ...state, submit, reject, error, errorWithin }
}

/** A form that reports the form-level error and what was saved, in words. */
export function Form({
  onSubmit,
  state,
  children,
  savedText = 'Saved.',
  label,
}: {
  onSubmit: () => void
  state: FormState
  children: ReactNode
  savedText?: string
  label?: string
}) {
  const handle = (event: FormEvent) => {
    event.preventDefault()
    onSubmit()
  }
  const unplaced = Object.entries(state.errors).filter(([key]) => key !== '_form')
  return (
    <form onSubmit={handle} aria-label={label} noValidate>
      {children}
      {state.formError ? (
        <Alert>
          {state.formError}
          {unplaced.length ? (
            <ul className="issues">
              {unplaced.map(([key, message]) => (
                <li key={key}>
                  <code>{key}</code>: {message}
                </li>
              ))}
            </ul>
          ) : null}
        </Alert>
      ) : null}
      {state.done ? (
        <p className="saved" role="status">
          {savedText}
        </p>
      ) : null}
    </form>
  )
}
