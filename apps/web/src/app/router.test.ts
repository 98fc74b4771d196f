import { describe, expect, it } from 'vitest'
import { matchRoute } from './router.tsx'

describe('matchRoute', () => {
  it('matches literal and parameter segments', () => {
    expect(matchRoute('/', '/')).toEqual({})
    expect(matchRoute('/p/:project/pipelines/:id', '/p/demo/pipelines/abc')).toEqual({
      project: 'demo',
      id: 'abc',
    })
    expect(matchRoute('/p/:project/pipelines/:id', '/p/demo/pipelines')).toBeNull()
    expect(matchRoute('/p/:project', '/p/demo/extra')).toBeNull()
    expect(matchRoute('/admin/:section', '/p/x')).toBeNull()
  })

  it('decodes parameters and collects the rest after *', () => {
    expect(matchRoute('/p/:project/*', '/p/my%20app/settings/config')).toEqual({
      project: 'my app',
      rest: 'settings/config',
    })
    expect(matchRoute('/p/:project/*', '/p/demo')).toEqual({ project: 'demo', rest: '' })
  })
})
