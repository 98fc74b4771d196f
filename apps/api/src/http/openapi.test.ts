import { describe, expect } from 'vitest'
import { apiTest as test } from '../../test/support/test-app.ts'

interface Operation {
  responses: Record<string, { $ref?: string; content?: Record<string, { schema?: unknown }> }>
}

describe('the OpenAPI document at /api/docs/json', () => {
  test('documents every operation with the one error shape', async ({ app }) => {
    const response = await app.inject({ method: 'GET', url: '/api/docs/json' })
    expect(response.statusCode).toBe(200)
    const api = response.json()
    expect(api.components.schemas.Error).toMatchObject({
      type: 'object',
      required: ['error'],
      properties: { error: { required: ['code', 'message'] } },
    })
    const operations = Object.values(api.paths as Record<string, Record<string, Operation>>).flatMap((item) =>
      Object.values(item),
    )
    expect(operations.length).toBeGreaterThan(50)
    const withoutErrors = operations.filter(
      (operation) =>
        operation.responses.default?.content?.['application/json']?.schema === undefined ||
        (operation.responses.default.content['application/json'].schema as { $ref: string }).$ref !==
          '#/components/schemas/Error',
    )
    expect(withoutErrors).toEqual([])
  })

  test('says which routes stream Server-Sent Events, and what they send', async ({ app }) => {
    const api = (await app.inject({ method: 'GET', url: '/api/docs/json' })).json()
    for (const path of ['/api/stages/{id}/logs/live', '/api/projects/{project}/events']) {
      const ok = api.paths[path].get.responses['200']
      expect(ok.content).toEqual({ 'text/event-stream': { schema: { type: 'string' } } })
      expect(ok.description).toMatch(/Last-Event-ID/)
    }
    // An ordinary route keeps its JSON answer.
    expect(Object.keys(api.paths['/api/projects'].get.responses['200'].content)).toEqual(['application/json'])
  })
})
