import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { HaproxyProcess, readTraffic, waitForTraffic } from '@slipway/gateway'
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
  test('an environment with a gateway port gets its HAProxy site and its traffic recorded; a deleted one loses it', async ({
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
    const gateway = await startGateway(deps, dir)
    try {
      const from = Date.now()
      expect(await answer(port)).toEqual({
        status: 503,
        body: '{"error":{"code":"DEPENDENCY_UNAVAILABLE","message":"no live instance of demo/production"}}',
      })
      // The worker's traffic recorder saw that request: one 503 the gateway wrote itself.
      const to = Date.now()
      expect(await waitForTraffic(redis, redisPrefix, to, { timeoutMs: 10_000 })).toBe(true)
      const report = await readTraffic(redis, redisPrefix, 'demo', 'production', from, to)
      expect(report.totals).toMatchObject({ requests: 1, failed: 1, failedBy: { gateway5xx: 1 } })

      await db.environment.delete({ where: { id: environment.id } })
      await gateway.agent.sync()
      expect((await answer(port)).status).toBe(0)
    } finally {
      await gateway.stop()
      await haproxy.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
