import { useState } from 'react'
import { invalidate } from '../api/resource.ts'
import { type SafeParser, useSubmit } from '../ui/form.tsx'

export interface RecordFormOptions<R, D> {
  /** The form's text for a record (empty for a new one). */
  draftOf: (record: R | null) => D
  create: SafeParser<object>
  update: SafeParser<object>
  post: (body: object) => Promise<unknown>
  patch: (id: string, body: object) => Promise<R>
  /** The resource key to reload after a save. */
  resource: string
}

/**
 * A form that adds a record or edits `record`: the record as last saved here (what the next
 * edit is compared with), the draft, and `save`, which posts a new record's body or patches
 * the changes to the current one ("Nothing changed." when there are none).
 */
export function useRecordForm<R extends { id: string }, D>(
  record: R | null,
  options: RecordFormOptions<R, D>,
) {
  const [current, setCurrent] = useState(record)
  const [draft, setDraft] = useState(() => options.draftOf(record))
  const form = useSubmit<object>(current ? options.update : options.create, async (body) => {
    if (current) {
      const updated = await options.patch(current.id, body)
      setCurrent(updated)
      setDraft(options.draftOf(updated))
    } else {
      await options.post(body)
      setDraft(options.draftOf(null))
    }
    invalidate(options.resource)
  })
  const save = (body: object) => {
    if (current && !Object.keys(body).length) form.reject({ _form: 'Nothing changed.' })
    else void form.submit(body)
  }
  return { current, draft, setDraft, form, save }
}
