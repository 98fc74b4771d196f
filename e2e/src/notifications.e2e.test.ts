import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, eventually, pipelineIn, setupDemo } from './client.ts'
import { type Stack, startStack } from './stack.ts'

interface Recorded {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

/**
 * A stand-in for the parts of a third-party service we cannot run here: it records every
 * request and answers like GitLab's commit status API (POST /api/v4/projects/:id/statuses/:sha
 * returns the created status), failing the first `failFirst` requests with a 502.
 */
async function recorder(failFirst = 0): Promise<{ server: Server; url: string; requests: Recorded[] }> {
  const requests: Recorded[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      if (requests.length <= failFirst) {
        res.writeHead(502).end('bad gateway')
        return
      }
      const params = new URLSearchParams(body)
      const sha = req.url?.split('/statuses/')[1] ?? ''
      res.writeHead(201, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: requests.length,
          sha,
          ref: params.get('ref'),
          status: params.get('state'),
          name: params.get('name'),
          target_url: params.get('target_url'),
          description: params.get('description'),
          created_at: new Date().toISOString(),
          started_at: null,
          finished_at: null,
          allow_failure: false,
          coverage: null,
          author: { id: 1, username: 'slipway-bot', name: 'Slipway', state: 'active' },
        }),
      )
    })
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

describe('reporting back', () => {
  let stack: Stack
  let demo: Demo
  let gitlab: Awaited<ReturnType<typeof recorder>>
  let hooks: Awaited<ReturnType<typeof recorder>>

  beforeAll(async () => {
    stack = await startStack({ workers: 1 })
    demo = await setupDemo(stack, { prodReplicas: 1, prodHosts: ['prod-1'] })
    gitlab = await recorder(1)
    hooks = await recorder(1)
  })
  afterAll(async () => {
    gitlab?.server.close()
    hooks?.server.close()
    await stack?.stop()
  })

  it('reports commit statuses to GitLab, retrying failures, without blocking the pipeline', async () => {
    const configured = await demo.admin.patch(`/api/projects/${demo.project.slug}`, {
      gitlab: { baseUrl: gitlab.url, project: 'team/demo', token: 'glpat-e2e-token' },
    })
    expect(configured.status).toBe(200)
    const hook = await demo.admin.post(`/api/projects/${demo.project.slug}/notification-hooks`, {
      url: `${hooks.url}/slipway-events`,
      secret: 'hook-secret',
      events: ['pipeline.waiting', 'pipeline.failed'],
    })
    expect(hook.status).toBe(201)

    const sha = await demo.commit({ version: '5.0.0' })
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    await pipelineIn(demo.developer, started.body.id, ['waiting', 'failed'])

    const states = await eventually('pending, running reported', async () => {
      const seen = gitlab.requests.map((r) => new URLSearchParams(r.body).get('state'))
      return seen.includes('pending') && seen.includes('running') ? seen : undefined
    })
    expect(states[0]).toBe('pending')
    const request = gitlab.requests.at(-1)!
    expect(request.method).toBe('POST')
    expect(request.url).toBe(`/api/v4/projects/team%2Fdemo/statuses/${sha}`)
    expect(request.headers['private-token']).toBe('glpat-e2e-token')
    const params = new URLSearchParams(request.body)
    expect(params.get('name')).toBe('slipway')
    expect(params.get('ref')).toBe('main')
    expect(params.get('target_url')).toBe(`${stack.url}/pipelines/${started.body.id}`)

    // The outgoing webhook: first delivery got a 502, the retry is signed the same way.
    const delivered = await eventually('the signed webhook', async () =>
      hooks.requests.length >= 2 ? hooks.requests : undefined,
    )
    const last = delivered.at(-1)!
    const timestamp = String(last.headers['x-slipway-timestamp'])
    const expected = `sha256=${createHmac('sha256', 'hook-secret').update(`${timestamp}.${last.body}`).digest('hex')}`
    expect(last.headers['x-slipway-signature']).toBe(expected)
    expect(last.headers['x-slipway-event']).toBe('pipeline.waiting')
    expect(JSON.parse(last.body)).toMatchObject({
      event: 'pipeline.waiting',
      pipeline: { id: started.body.id, status: 'waiting', commitSha: sha },
      project: { slug: demo.project.slug },
    })
    const deliveries = await demo.admin.get(
      `/api/projects/${demo.project.slug}/notification-hooks/${hook.body.id}/deliveries`,
    )
    expect(deliveries.body[0]).toMatchObject({ status: 'delivered', attempts: 2, responseStatus: 201 })
    // The token never appears in the API or the audit log.
    const project = await demo.admin.get(`/api/projects/${demo.project.slug}`)
    expect(JSON.stringify(project.body)).not.toContain('glpat-e2e-token')
  })
})
