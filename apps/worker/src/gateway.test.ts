import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { HaproxyProcess } from '@slipway/gateway'
import { freePort, integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { createWorkerDeps } from './deps.ts'
import { startGateway } from './gateway.ts'

/** Status and body of one GET on a fresh connection (status 0: nothing listens). */
function answer(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, agent: false, timeout: 5000 }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        body += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
    })
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', () => resolve({ status: 0, body: '' }))
  })
}

describe('the worker runs the gateway agent for its GATEWAY_DIR', () => {
  test('an environment with a gateway port gets its HAProxy site; a deleted one loses it', async ({
    db,
    redis,
    redisPrefix,
  }) => {
    // Short: the folder holds HAProxy's unix sockets.
    const dir = await mkdtemp(path.join(tmpdir(), 'swgw-'))
    const haproxy = await HaproxyProcess.start({ dir, port: await freePort() })
    const deps = createWorkerDeps({
      db,
      redis,
      prefix: redisPrefix,
      secrets: createSecretBox(parseKeyring(generateKeySpec())),
      logger: createLogger({ name: 'gateway-test', level: 'silent' }),
      workerId: 'w-gateway',
      workDir: path.join(dir, 'work'),
    })
    const port = await freePort()
    const project = await db.project.create({
      data: { slug: 'demo', name: 'demo', gitUrl: 'file:///x.git', imageRepository: 'x/y', appSpec: {} },
    })
    const environment = await db.environment.create({
      data: { projectId: project.id, name: 'production', position: 0, gatewayPort: port },
    })
    const agent = await startGateway(deps, dir)
    try {
      expect(await answer(port)).toEqual({
        status: 503,
        body: '{"error":{"code":"DEPENDENCY_UNAVAILABLE","message":"no live instance of demo/production"}}',
      })
      await db.environment.delete({ where: { id: environment.id } })
      await agent.sync()
      expect((await answer(port)).status).toBe(0)
    } finally {
      await agent.stop()
      await haproxy.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
