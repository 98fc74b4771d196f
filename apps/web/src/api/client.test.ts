import { describe, expect, it } from 'vitest'
import { fieldName, toApiError, withQuery } from './client.ts'

describe('toApiError', () => {
  it('keeps the code and message and places validation errors by field', () => {
    const error = toApiError(400, {
      error: {
        code: 'VALIDATION_FAILED',
        message: 'the request is not valid',
        details: {
          fields: [
            { path: 'body.appSpec.containerPort', message: 'too big' },
            { path: 'body.name', message: 'required' },
          ],
        },
      },
    })
    expect(error.code).toBe('VALIDATION_FAILED')
    expect(error.status).toBe(400)
    expect(error.message).toBe('the request is not valid')
    expect(error.fields).toEqual({ 'appSpec.containerPort': 'too big', name: 'required' })
  })

  it('still says something in words when the answer is not an error body', () => {
    const error = toApiError(502, '<html>bad gateway</html>')
    expect(error.message).toBe('the server answered 502')
  })
})

describe('helpers', () => {
  it('turns request paths into form field names', () => {
    expect(fieldName('body.strategy.maxSurge')).toBe('strategy.maxSurge')
    expect(fieldName('querystring.cursor')).toBe('cursor')
  })

  it('builds query strings without empty values', () => {
    expect(withQuery('/api/x', { a: 1, b: '', c: undefined, d: 'e f' })).toBe('/api/x?a=1&d=e+f')
    expect(withQuery('/api/x', {})).toBe('/api/x')
  })
})
