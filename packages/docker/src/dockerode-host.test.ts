import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { dockerClient, fleetHost, freePort, integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { DockerodeHost } from './dockerode-host.ts'
import { imageDigestRef, imageTagRef } from './refs.ts'

const run = promisify(execFile)

async function checkout(
  repoUrl: string,
  ref: string,
): Promise<{ dir: string; sha: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-demo-'))
  await run('git', ['clone', '--quiet', '--', repoUrl, dir])
  await run('git', ['-C', dir, 'checkout', '--quiet', ref, '--'])
  const { stdout } = await run('git', ['-C', dir, 'rev-parse', 'HEAD'])
  return { dir, sha: stdout.trim(), cleanup: () => rm(dir, { recursive: true, force: true }) }
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
  return { status: response.status, body: await response.text() }
}

async function until<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

describe('DockerodeHost on the local fleet', () => {
  test('builds the demo on build-1, pushes it, pulls it on pre-1 by digest and serves it', async ({
    fleet,
    testId,
  }) => {
    const build = new DockerodeHost('build-1', fleetHost('build-1'))
    const pre = new DockerodeHost('pre-1', fleetHost('pre-1'))
    const auth = { serveraddress: fleet.registry.url, ...fleet.registry }
    const source = await checkout(fleet.demoRepoUrl, 'v1.0.0')
    try {
      const repository = `test/demo-${testId}`
      const tag = imageTagRef(fleet.registry.url, repository, source.sha)
      const lines: string[] = []
      const built = await build.build({
        contextDir: source.dir,
        tags: [tag],
        onLog: (line) => lines.push(line),
      })
      expect(built.imageId).toMatch(/^sha256:/)
      // BuildKit's plain progress output.
      expect(lines.some((line) => /^#\d+ \[internal\] load build definition/.test(line))).toBe(true)

      const { digest } = await build.push(tag, auth)
      expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/)

      const byDigest = imageDigestRef(fleet.registry.url, repository, digest)
      await pre.pull(byDigest, auth)
      expect(await pre.hasImage(byDigest)).toBe(true)

      const container = await pre.run({
        name: `demo-${testId}`,
        image: byDigest,
        env: { ENVT: 'pre-release', PROJ: 'demo' },
        labels: { 'slipway.test': testId },
        containerPort: 8080,
        stopGraceSeconds: 5,
      })
      expect(container.state).toBe('running')
      expect(container.hostPort).toBeGreaterThan(0)

      const base = `http://${fleetHost('pre-1').address}:${container.hostPort}`
      const health = await until(
        () => get(`${base}/healthz`).then((r) => (r.status === 200 ? r : Promise.reject(r))),
        10_000,
      )
      expect(health.status).toBe(200)
      const home = await get(`${base}/`)
      expect(home.body).toContain('demo 1.0.0 ENVT=pre-release PROJ=demo')

      await pre.stop(container.id, 5)
      expect((await pre.inspect(container.id))?.state).toBe('exited')
      await pre.remove(container.id)
      expect(await pre.inspect(container.id)).toBeUndefined()
    } finally {
      await source.cleanup()
    }
  })

  test('publishes a bridge container on the host’s address, on a port Docker chooses; inspect and list report it', async ({
    testId,
  }) => {
    const prod = fleetHost('prod-1')
    const host = new DockerodeHost('prod-1', prod)
    const marker = `answered by ${testId} on prod-1`
    const container = await host.run({
      name: `published-${testId}`,
      image: 'slipway/busybox:1',
      command: ['sh', '-c', `mkdir -p /w && echo "${marker}" > /w/index.html && exec httpd -f -p 8080 -h /w`],
      labels: { 'slipway.test': testId },
      containerPort: 8080,
      stopGraceSeconds: 1,
    })
    const port = container.hostPort ?? 0
    expect(port).toBeGreaterThan(0)
    // Docker chose the port: created with HostPort '', published on prod-1's address only.
    const raw = await dockerClient('prod-1').getContainer(container.id).inspect()
    expect(raw.HostConfig.PortBindings).toEqual({ '8080/tcp': [{ HostIp: prod.address, HostPort: '' }] })
    expect(raw.NetworkSettings.Ports).toEqual({
      '8080/tcp': [{ HostIp: prod.address, HostPort: String(port) }],
    })
    expect((await host.inspect(container.id))?.hostPort).toBe(port)
    expect((await host.list({ 'slipway.test': testId })).map((c) => c.hostPort)).toEqual([port])

    // prod-1's instance answers at prod-1's address, and nothing of it at 127.0.0.1 here.
    const home = await until(
      () => get(`http://${prod.address}:${port}/`).then((r) => (r.status === 200 ? r : Promise.reject(r))),
      10_000,
    )
    expect(home.body.trim()).toBe(marker)
    const local = await get(`http://127.0.0.1:${port}/`).then(
      (r) => r.body,
      (error: Error) => `no answer (${error.message})`,
    )
    expect(local).not.toContain(marker)

    // A stopped container has no binding any more: Docker chooses again at its next start.
    await host.stop(container.id, 1)
    expect((await host.inspect(container.id))?.hostPort).toBeUndefined()
    await host.remove(container.id)
  })

  test('a run on a host without an address fails, naming the host and the field', async ({ testId }) => {
    const { address: _, ...endpoint } = fleetHost('pre-1')
    const host = new DockerodeHost('pre-1', endpoint)
    await expect(
      host.run({ name: `nowhere-${testId}`, image: 'slipway/busybox:1', containerPort: 8080 }),
    ).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
      message: expect.stringContaining('pre-1 has no address'),
      details: { host: 'pre-1', field: 'address' },
    })
    expect(await host.list({ 'slipway.test': testId })).toEqual([])
  })

  test('runs on the host network: the app gets PORT, and inspect and list report it', async ({ testId }) => {
    const fleetPre = fleetHost('pre-1')
    const pre = new DockerodeHost('pre-1', fleetPre)
    // The caller allocates host-network ports (the deploy package leases them per host).
    const given = 20_000 + Math.floor(Math.random() * 12_000)
    const container = await pre.run({
      name: `hostnet-${testId}`,
      image: 'slipway/busybox:1',
      command: [
        'sh',
        '-c',
        'mkdir -p /w && echo on-host > /w/index.html && echo "listening on $PORT" && exec httpd -f -p "$PORT" -h /w',
      ],
      // The release's PORT is overridden by the port the host network gives the container.
      env: { PORT: '1' },
      labels: { 'slipway.test': testId },
      containerPort: 8080,
      hostPort: given,
      network: 'host',
      stopGraceSeconds: 1,
    })
    const port = container.hostPort ?? 0
    expect(port).toBe(given)
    const home = await until(
      () =>
        get(`http://${fleetPre.address}:${port}/`).then((r) => (r.status === 200 ? r : Promise.reject(r))),
      10_000,
    )
    expect(home.body.trim()).toBe('on-host')
    expect((await pre.inspect(container.id))?.hostPort).toBe(port)
    expect((await pre.list({ 'slipway.test': testId })).map((c) => c.hostPort)).toEqual([port])
    expect(await pre.logs(container.id)).toContain(`listening on ${port}`)

    await pre.stop(container.id, 1)
    await pre.remove(container.id)
    // Nothing listens on the port any more.
    await expect(get(`http://${fleetPre.address}:${port}/`)).rejects.toThrow()
  })

  test('fails a broken Dockerfile with Docker’s own error', async ({ fleet, testId }) => {
    const build = new DockerodeHost('build-1', fleetHost('build-1'))
    const dir = await mkdtemp(path.join(tmpdir(), 'slipway-broken-'))
    try {
      await writeFile(path.join(dir, 'Dockerfile'), 'FROM slipway/busybox:1\nRUN exit 3\n')
      const lines: string[] = []
      const tag = imageTagRef(fleet.registry.url, `test/broken-${testId}`, 'x')
      await expect(
        build.build({ contextDir: dir, tags: [tag], onLog: (line) => lines.push(line) }),
      ).rejects.toMatchObject({
        code: 'BUILD_FAILED',
        message: expect.stringContaining('exit code: 3'),
      })
      expect(lines.join('\n')).toContain('exit code: 3')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('honours .dockerignore', async ({ fleet, testId }) => {
    const build = new DockerodeHost('build-1', fleetHost('build-1'))
    const dir = await mkdtemp(path.join(tmpdir(), 'slipway-ignore-'))
    try {
      await writeFile(
        path.join(dir, 'Dockerfile'),
        'FROM slipway/busybox:1\nCOPY . /ctx\nRUN ls /ctx > /listing\n',
      )
      await writeFile(path.join(dir, '.dockerignore'), 'secret.txt\n')
      await writeFile(path.join(dir, 'secret.txt'), 'do not send')
      await writeFile(path.join(dir, 'kept.txt'), 'send')
      const tag = imageTagRef(fleet.registry.url, `test/ignore-${testId}`, 'x')
      await build.build({ contextDir: dir, tags: [tag] })
      const container = await build.run({
        name: `ignore-${testId}`,
        image: tag,
        labels: { 'slipway.test': testId },
        containerPort: 8080,
        command: ['sh', '-c', 'cat /listing; sleep 30'],
      })
      const logs = await until(async () => {
        const lines = await build.logs(container.id)
        return lines.length ? lines : Promise.reject(new Error('no logs yet'))
      }, 5000)
      expect(logs).toContain('kept.txt')
      expect(logs).not.toContain('secret.txt')
      await build.removeImage(tag).catch(() => undefined)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('a push with wrong credentials fails as REGISTRY_AUTH_FAILED', async ({ fleet }) => {
    const build = new DockerodeHost('build-1', fleetHost('build-1'))
    const tag = imageTagRef(fleet.registry.url, 'test/base', 'auth')
    const raw = dockerClient('build-1')
    await raw.getImage('slipway/busybox:1').tag({ repo: `${fleet.registry.url}/test/base`, tag: 'auth' })
    await expect(
      build.push(tag, {
        serveraddress: fleet.registry.url,
        username: fleet.registry.username,
        password: 'wrong',
      }),
    ).rejects.toMatchObject({ code: 'REGISTRY_AUTH_FAILED' })
  })

  test('the daemon itself reaches the registry: ok, refused credentials, nothing listening', async ({
    fleet,
  }) => {
    const pre = new DockerodeHost('pre-1', fleetHost('pre-1'))
    const auth = { serveraddress: fleet.registry.url, ...fleet.registry }
    // An image the registry does not have still says it answered and took the credentials.
    await pre.reachRegistry(`${fleet.registry.url}/slipway/no-such-image:latest`, auth)
    await expect(
      pre.reachRegistry(`${fleet.registry.url}/slipway/no-such-image:latest`, { ...auth, password: 'wrong' }),
    ).rejects.toMatchObject({ code: 'REGISTRY_AUTH_FAILED' })
    // The registry's machine, on a port where nothing listens.
    const nowhere = `${fleet.registry.url.split(':')[0]}:${await freePort()}`
    await expect(
      pre.reachRegistry(`${nowhere}/slipway/check:latest`, { ...auth, serveraddress: nowhere }),
    ).rejects.toMatchObject({ code: 'REGISTRY_UNREACHABLE', message: expect.stringContaining('pre-1') })
  })

  test('an unreachable host fails fast as HOST_UNREACHABLE', async () => {
    const ghost = new DockerodeHost('ghost', { endpoint: 'unix:///tmp/slipway-no-such-daemon.sock' })
    await expect(ghost.ping()).rejects.toMatchObject({
      code: 'HOST_UNREACHABLE',
      message: expect.stringContaining('ghost'),
    })
  })
})
