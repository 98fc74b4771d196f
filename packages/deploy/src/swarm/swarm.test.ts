import { DockerodeSwarm } from '@slipway/docker'
import { demoImage, recordRow, integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { SwarmTarget, type TargetDeployRequest } from '../target.ts'
import {
  demoApp,
  failures,
  fleetSwarm,
  neverHealthy,
  requestsNow,
  startLoad,
  startSiteGateway,
  strategy,
  until,
  versionOf,
} from '../test-support/index.ts'
import { serviceName } from './deploy.ts'

describe('the Swarm target on a 3-node swarm (swarm-1 manager, swarm-2 and swarm-3 workers)', () => {
  test('deploy, upgrade under kept-alive load, a failing release rolled back by Swarm, scale, a worker node down', async ({
    fleet,
    redis,
    redisPrefix,
    testId,
  }) => {
    const [swarm, v1, v2, v3] = await Promise.all([
      fleetSwarm(),
      demoImage({ ref: 'v1.0.0' }),
      demoImage({ ref: 'v1.1.0' }),
      demoImage({ ref: 'v1.1.0', version: '3.0.0', patch: neverHealthy }),
    ])
    const manager = new DockerodeSwarm('swarm-1', { endpoint: swarm.endpoint, tls: swarm.tls })
    const target = new SwarmTarget(manager)
    const project = `p${testId}`
    const environment = 'production'
    const gateway = await startSiteGateway({ redis, prefix: redisPrefix, project, environment })
    const lines: string[] = []
    const request = (
      release: { id: string; image: string },
      replicas: number,
      change: Partial<TargetDeployRequest> = {},
    ): TargetDeployRequest => ({
      project,
      environment,
      release,
      replicas,
      app: demoApp,
      env: { GREETING: release.id, API_TOKEN: `token-of-${release.id}` },
      secretKeys: new Set(['API_TOKEN']),
      strategy: strategy({ monitorSeconds: 1 }),
      registryAuth: { serveraddress: fleet.registry.url, ...fleet.registry },
      traffic: gateway.traffic,
      registry: gateway.registry,
      signal: AbortSignal.timeout(180_000),
      log: (line) => lines.push(line),
      ...change,
    })
    const served = async (n: number) => (await requestsNow(gateway.port, n)).map((s) => versionOf(s.body))
    try {
      // Deploy: a new service, 3 tasks spread over the nodes, all in the gateway.
      const first = await target.deploy(request({ id: 'r1', image: v1.image }, 3))
      expect(first.error).toBeUndefined()
      expect(first.status).toBe('succeeded')
      expect(new Set(first.instances.map((i) => i.host))).toEqual(new Set(['swarm-1', 'swarm-2', 'swarm-3']))
      expect(await served(30)).toEqual(Array(30).fill(v1.version))
      // The secret is a Swarm secret (a file in the task), not in the service's env.
      const service = await manager.service(serviceName(project, environment))
      expect(service?.labels['slipway.release']).toBe('r1')
      const secrets = await manager.secrets({ label: [`slipway.project=${project}`] })
      expect(secrets.map((s) => s.name)).toEqual([
        expect.stringMatching(/^slipway-.*-API_TOKEN-[0-9a-f]{16}$/),
      ])
      expect(lines.join('\n')).not.toContain('token-of-r1')

      // Upgrade under kept-alive load: Swarm replaces the tasks start-first, 0 failed requests.
      let load = startLoad({ port: gateway.port, maxRequests: 50_000, maxMs: 120_000 })
      await until('load under way', () => load.done() >= 20)
      let began = Date.now()
      const second = await target.deploy(request({ id: 'r2', image: v2.image }, 3))
      const upgradeSeconds = (Date.now() - began) / 1000
      let samples = await load.stop()
      const upgradeRequests = samples.length
      expect(second.error).toBeUndefined()
      expect(second.status).toBe('succeeded')
      expect(second.instances.every((i) => i.release === 'r2')).toBe(true)
      expect(failures(samples)).toEqual([])
      expect(new Set(samples.map((s) => versionOf(s.body)))).toEqual(new Set([v1.version, v2.version]))
      expect(await served(30)).toEqual(Array(30).fill(v2.version))
      await recordRow({
        section: 'fault',
        id: 'swarm-upgrade-kept-alive',
        done: 'a 3-task Swarm service upgraded to a new release (start-first, one task at a time) while 8 kept-alive clients use the gateway',
        expected: 'every task replaced, the gateway on the new tasks only, no failed request',
        observed: `converged in ${upgradeSeconds.toFixed(1)} s; 0 of ${upgradeRequests} kept-alive requests failed`,
        requests: { failed: 0, total: upgradeRequests },
        figures: { upgradeSeconds },
        test: 'packages/deploy/src/swarm/swarm.test.ts',
        ci: true,
      })

      // A release that never becomes healthy: Swarm rolls it back; Slipway says exactly that.
      lines.length = 0
      load = startLoad({ port: gateway.port, maxRequests: 50_000, maxMs: 180_000 })
      await until('load under way', () => load.done() >= 20)
      began = Date.now()
      const third = await target.deploy(
        request({ id: 'r3', image: v3.image }, 3, {
          strategy: strategy({ healthTimeoutSeconds: 20, monitorSeconds: 1 }),
        }),
      )
      samples = await load.stop()
      expect(third.status).toBe('failed')
      expect(third.rolledBack).toBe(true)
      expect(third.error?.code).toBe('HEALTH_CHECK_FAILED')
      expect(third.error?.message).toMatch(/Swarm rolled the update of .* back/)
      expect(lines.some((l) => /Swarm is rolling .* back to the previous spec/.test(l))).toBe(true)
      expect(third.instances.map((i) => i.release)).toEqual(['r2', 'r2', 'r2'])
      expect(failures(samples)).toEqual([])
      expect(new Set(samples.map((s) => versionOf(s.body)))).toEqual(new Set([v2.version]))
      await recordRow({
        section: 'fault',
        id: 'swarm-failing-release-rolled-back',
        done: 'a release whose health check never passes deployed to a 3-task Swarm service under kept-alive load',
        expected:
          'Swarm rolls the service back; the stage fails with HEALTH_CHECK_FAILED saying so; the old release serves throughout',
        observed: `rolled back by Swarm and reported ${((Date.now() - began) / 1000).toFixed(1)} s after the deploy began; 0 of ${samples.length} kept-alive requests failed, none served by the failing release`,
        requests: { failed: 0, total: samples.length },
        test: 'packages/deploy/src/swarm/swarm.test.ts',
        ci: true,
      })

      // Scale 3 -> 5 -> 2 (the live release's config): the running tasks stay, the gateway follows.
      const sameConfig = { env: { GREETING: 'r2', API_TOKEN: 'token-of-r2' } }
      const up = await target.deploy(request({ id: 'r4', image: v2.image }, 5, sameConfig))
      expect(up.status).toBe('succeeded')
      expect(up.instances).toHaveLength(5)
      expect((await gateway.registry.list(project, environment)).length).toBe(5)
      const down = await target.deploy(request({ id: 'r5', image: v2.image }, 2, sameConfig))
      expect(down.status).toBe('succeeded')
      expect(down.instances).toHaveLength(2)
      expect(new Set(down.instances.map((i) => i.release))).toEqual(new Set(['r2']))
      expect(await served(20)).toEqual(Array(20).fill(v2.version))
      const logs = await target.logs(down.instances[0] as never, 50, AbortSignal.timeout(10_000))
      expect(logs.join('\n')).toMatch(/demo .* listening on 8080/)

      // A worker node down: Swarm starts its tasks elsewhere; healing keeps the gateway on them.
      const scaled = await target.deploy(request({ id: 'r6', image: v2.image }, 3, sameConfig))
      expect(scaled.status).toBe('succeeded')
      load = startLoad({ port: gateway.port, maxRequests: 50_000, maxMs: 120_000 })
      await until('load under way', () => load.done() >= 20)
      const stoppedAt = Date.now()
      await swarm.stopNode('swarm-3')
      const healed = await until(
        'the tasks of swarm-3 run elsewhere and the gateway routes only to them',
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 500))
          const result = await target.heal(request({ id: 'r6', image: v2.image }, 3, sameConfig))
          return result.instances.length === 3 && result.instances.every((i) => i.host !== 'swarm-3')
            ? result
            : undefined
        },
        90_000,
      )
      const healedSeconds = (Date.now() - stoppedAt) / 1000
      samples = await load.stop()
      expect(healed.instances.every((i) => i.host !== 'swarm-3')).toBe(true)
      const after = await requestsNow(gateway.port, 40)
      expect(failures(after)).toEqual([])
      const failed = failures(samples).length
      await recordRow({
        section: 'fault',
        id: 'swarm-worker-node-stopped',
        done: 'the dockerd of a worker node of a 3-task Swarm service stopped (a machine switched off) under kept-alive load; Slipway heals every second',
        expected:
          'Swarm starts the lost task on another node; the gateway routes only to running tasks; every request after succeeds',
        observed: `3 tasks running on the other nodes and in the gateway ${healedSeconds.toFixed(1)} s after the stop; ${failed} of ${samples.length} kept-alive requests failed meanwhile; 40 after, none failed`,
        recoverySeconds: healedSeconds,
        requests: { failed, total: samples.length },
        test: 'packages/deploy/src/swarm/swarm.test.ts',
        ci: true,
      })
    } finally {
      await swarm.startNode('swarm-3')
      await manager.removeService(serviceName(project, environment))
      await until('the site secrets are gone', async () => {
        const left = await manager.secrets({ label: [`slipway.project=${project}`] })
        for (const secret of left) await manager.removeSecret(secret.id)
        return left.length === 0
      })
      await gateway.close()
    }
  })
})
