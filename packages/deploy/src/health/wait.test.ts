import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { HealthCheck } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { DockerodeHost } from '@slipway/docker'
import { demoImage, fleetHost, freePort, integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { waitHealthy } from './wait.ts'

const http = (change: Partial<HealthCheck> = {}): HealthCheck =>
  ({
    type: 'http',
    path: '/healthz',
    intervalSeconds: 0.2,
    timeoutSeconds: 1,
    retries: 3,
    startPeriodSeconds: 0,
    ...change,
  }) as HealthCheck

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(AppError)
  return error as AppError
}

describe('waitHealthy against real containers on pre-1', () => {
  const host = () => new DockerodeHost('pre-1', fleetHost('pre-1'))

  async function run(testId: string, name: string, image: string, command?: string[]) {
    const info = await host().run({
      name: `health-${testId}-${name}`,
      image,
      labels: { 'slipway.test': testId },
      containerPort: 8080,
      stopGraceSeconds: 1,
      command,
    })
    // Reached where pre-1 publishes it: its own address on the fleet LAN.
    return { id: info.id, address: fleetHost('pre-1').address, port: info.hostPort ?? 0 }
  }

  test('passes a healthy demo (http and tcp), and names the status a broken one answers', async ({
    fleet,
    testId,
  }) => {
    const good = await demoImage({ ref: 'v1.0.0' })
    const broken = await demoImage({
      ref: 'v1.0.0',
      version: '3.0.0-broken',
      patch: async (dir) => {
        const start = path.join(dir, 'start.sh')
        const { readFile } = await import('node:fs/promises')
        await writeFile(start, (await readFile(start, 'utf8')).replace('echo ok > /www/healthz', 'true'))
      },
    })
    const auth = { serveraddress: fleet.registry.url, ...fleet.registry }
    await Promise.all([host().pull(good.image, auth), host().pull(broken.image, auth)])
    const ok = await run(testId, 'ok', good.image)
    const bad = await run(testId, 'bad', broken.image)
    const signal = AbortSignal.timeout(60_000)
    const container = (id: string) => ({ host: host(), id })

    const healthy = await waitHealthy({
      check: http(),
      address: ok.address,
      port: ok.port,
      deadlineSeconds: 30,
      signal,
      container: container(ok.id),
    })
    expect(healthy.probes).toBeGreaterThanOrEqual(3)
    const tcp = {
      type: 'tcp',
      intervalSeconds: 0.2,
      timeoutSeconds: 1,
      retries: 2,
      startPeriodSeconds: 0,
    } as HealthCheck
    await waitHealthy({ check: tcp, address: ok.address, port: ok.port, deadlineSeconds: 30, signal })

    const error = await failure(
      waitHealthy({
        check: http({ retries: 5 }),
        address: bad.address,
        port: bad.port,
        deadlineSeconds: 30,
        signal,
        container: container(bad.id),
      }),
    )
    expect(error.code).toBe('HEALTH_CHECK_FAILED')
    expect(error.message).toBe('GET /healthz answered 404 5 times in a row')
  })

  test('reports a container that exits, and a port nothing listens on', async ({ testId }) => {
    const signal = AbortSignal.timeout(60_000)
    const exits = await run(testId, 'exits', 'slipway/busybox:1', [
      'sh',
      '-c',
      'echo booting; sleep 0.5; echo fatal: no config; exit 3',
    ])
    const error = await failure(
      waitHealthy({
        check: http(),
        address: exits.address,
        port: exits.port,
        deadlineSeconds: 30,
        signal,
        container: { host: host(), id: exits.id },
      }),
    )
    expect(error.code).toBe('CONTAINER_FAILED')
    expect(error.message).toMatch(
      /^container exited with code 3 on pre-1; last output: booting \| fatal: no config/,
    )

    // Docker's proxy accepts connections on a published port even when nothing listens
    // behind it: the TCP check must not take that for healthy.
    const silent = await run(testId, 'silent', 'slipway/busybox:1', ['sleep', '60'])
    const tcp = {
      type: 'tcp',
      intervalSeconds: 0.2,
      timeoutSeconds: 1,
      retries: 1,
      startPeriodSeconds: 0,
    } as HealthCheck
    const refused = await failure(
      waitHealthy({ check: tcp, address: silent.address, port: silent.port, deadlineSeconds: 2, signal }),
    )
    expect(refused.code).toBe('HEALTH_CHECK_FAILED')
    expect(refused.message).toMatch(
      new RegExp(
        `^not healthy within 2 s: TCP ${silent.address.replaceAll('.', '\\.')}:${silent.port}: connection closed at once \\(nothing listening\\) for \\d\\.\\d s \\(\\d+ probes\\)$`,
      ),
    )

    // A port of pre-1 nothing listens on.
    const free = { address: fleetHost('pre-1').address, port: await freePort() }
    const nothing = await failure(waitHealthy({ check: http(), ...free, deadlineSeconds: 1, signal }))
    expect(nothing.message).toMatch(/^not healthy within 1 s: GET \/healthz: connection refused for \d\.\d s/)

    const aborted = await failure(
      waitHealthy({ check: http(), ...free, deadlineSeconds: 30, signal: AbortSignal.abort() }),
    )
    expect(aborted.code).toBe('CANCELED')
  })
})

describe('waitHealthy with the image’s own HEALTHCHECK', () => {
  const host = () => new DockerodeHost('pre-1', fleetHost('pre-1'))
  const withHealthcheck = (check: string, version: string) =>
    demoImage({
      ref: 'v1.0.0',
      version,
      patch: async (dir) => {
        const dockerfile = path.join(dir, 'Dockerfile')
        const { readFile } = await import('node:fs/promises')
        await writeFile(
          dockerfile,
          `${await readFile(dockerfile, 'utf8')}HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD ${check}\n`,
        )
      },
    })

  test('waits for Docker to call the container healthy, and fails with its output when it is not', async ({
    fleet,
    testId,
  }) => {
    const auth = { serveraddress: fleet.registry.url, ...fleet.registry }
    const healthy = await withHealthcheck('wget -q -O /dev/null http://127.0.0.1:8080/healthz', '1.0.0-hc-ok')
    const sick = await withHealthcheck('sh -c "echo database unreachable; exit 1"', '1.0.0-hc-bad')
    const start = async (name: string, image: string) => {
      await host().pull(image, auth)
      const info = await host().run({
        name: `hc-${testId}-${name}`,
        image,
        labels: { 'slipway.test': testId },
        containerPort: 8080,
        stopGraceSeconds: 1,
      })
      return { id: info.id, address: fleetHost('pre-1').address, port: info.hostPort ?? 0 }
    }
    const ok = await start('ok', healthy.image)
    await waitHealthy({
      check: http({ retries: 1 }),
      address: ok.address,
      port: ok.port,
      deadlineSeconds: 30,
      signal: AbortSignal.timeout(40_000),
      container: { host: host(), id: ok.id },
    })
    expect((await host().inspect(ok.id))?.health?.status).toBe('healthy')

    const bad = await start('bad', sick.image)
    const error = await failure(
      waitHealthy({
        check: http({ retries: 1 }),
        address: bad.address,
        port: bad.port,
        deadlineSeconds: 30,
        signal: AbortSignal.timeout(40_000),
        container: { host: host(), id: bad.id },
      }),
    )
    expect(error.code).toBe('HEALTH_CHECK_FAILED')
    expect(error.message).toMatch(/HEALTHCHECK reports unhealthy .*database unreachable/)
  })
})
