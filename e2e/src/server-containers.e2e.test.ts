import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { generateKeySpec } from '@slipway/core'
import { type ExtraDaemon, startExtraDaemon } from '@slipway/deploy/testing'
import { DockerodeHost } from '@slipway/docker'
import { haproxyStartArgs, haproxyTargetAt, renderMainConfig } from '@slipway/gateway'
import { dockerAt, fleet, freePort, PrivatePostgres } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, pipelineIn, setupDemo } from './client.ts'
import { aTestFailed } from './failures.ts'
import { PrivateRedis } from './private-redis.ts'

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, '../..')

/** `node scripts/pack-server.mjs <dir>`: the images' build context. */
async function packServer(dir: string): Promise<void> {
  const child = spawn(process.execPath, [path.join(root, 'scripts/pack-server.mjs'), dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let errors = ''
  child.stderr?.on('data', (chunk) => {
    errors += chunk
  })
  const [code] = await once(child, 'exit')
  if (code !== 0) throw new Error(`pack-server failed (exit ${code}): ${errors}`)
}

/**
 * Slipway run the way docs/OPERATIONS.md ("Running Slipway in containers") says: its images
 * built on a Docker host of the fleet (another machine) from the server tree, the migrations
 * applied by the image's migrate command, the API and a worker as containers on that machine,
 * against a PostgreSQL and a Redis reached over the fleet LAN with passwords (as a managed
 * database would be), the build and environment hosts over TLS, the gateway's HAProxy folder
 * mounted in. One pipeline from a commit to production through them.
 */
describe('Slipway as containers on another machine', () => {
  let host: ExtraDaemon
  let postgres: PrivatePostgres
  let redis: PrivateRedis
  let dir: string
  const containers: string[] = []

  const docker = () => dockerAt(host.endpoint)
  async function start(
    name: string,
    image: string,
    options: { env?: string[]; binds?: string[]; cmd?: string[] },
  ) {
    const container = await docker().createContainer({
      name: `${name}-${randomBytes(3).toString('hex')}`,
      Image: image,
      Env: options.env ?? [],
      ...(options.cmd ? { Cmd: options.cmd } : {}),
      HostConfig: { NetworkMode: 'host', Init: true, Binds: options.binds ?? [] },
    })
    containers.push(container.id)
    await container.start()
    return container
  }
  async function logsOf(id: string): Promise<string> {
    const buffer = (await docker().getContainer(id).logs({ stdout: true, stderr: true, tail: 200 })) as Buffer
    // Multiplexed frames: an 8-byte header before each chunk.
    const parts: string[] = []
    for (let at = 0; at + 8 <= buffer.length; ) {
      const size = buffer.readUInt32BE(at + 4)
      parts.push(buffer.subarray(at + 8, at + 8 + size).toString('utf8'))
      at += 8 + size
    }
    return parts.join('')
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-containers-'))
    // Readable by the API's user in its container (10001), which reads the git repository here.
    await chmod(dir, 0o755)
    const password = randomBytes(12).toString('hex')
    const lan = { address: fleet().lanAddress, password }
    const [started] = await Promise.all([
      startExtraDaemon('slipway'),
      packServer(path.join(dir, 'server')),
      (async () => {
        postgres = await PrivatePostgres.create(await freePort(), { lan, empty: true })
      })(),
      (async () => {
        redis = new PrivateRedis(await freePort(), dir, { lan })
        await redis.start()
      })(),
    ])
    host = started
  })

  afterAll(async () => {
    for (const id of containers) {
      if (aTestFailed())
        process.stdout.write(
          `--- container ${id}:\n${await logsOf(id).catch((error: unknown) => `no logs: ${error}`)}\n`,
        )
      await docker()
        .getContainer(id)
        .remove({ force: true })
        .catch((error: unknown) => console.warn(`could not remove container ${id}:`, error))
    }
    await host?.cleanup()
    await redis?.stop()
    await postgres?.remove()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('builds its images on the machine, migrates, serves the dashboard and runs a pipeline to production', async () => {
    const { stdout: base } = await run(
      'bash',
      [path.join(root, 'docker/fleet.sh'), 'node-image', host.name],
      {
        timeout: 180_000,
      },
    )
    expect(base.trim()).toBe(`slipway/node:${process.versions.node}`)
    const builder = new DockerodeHost(host.name, {
      endpoint: host.endpoint,
      tls: host.tls,
      address: host.address,
    })
    const built = Date.now()
    for (const app of ['api', 'worker']) {
      await builder.build({
        contextDir: path.join(dir, 'server'),
        dockerfile: `${app}.Dockerfile`,
        tags: [`slipway/${app}:test`],
      })
    }
    const buildSeconds = (Date.now() - built) / 1000

    const keys = generateKeySpec('containers')
    const env = [
      `DATABASE_URL=${postgres.lanUrl}`,
      `REDIS_URL=${redis.lanUrl}`,
      `SLIPWAY_SECRET_KEYS=${keys}`,
    ]
    const migrate = await start('slipway-migrate', 'slipway/api:test', {
      env,
      cmd: ['node', '--enable-source-maps', 'dist/migrate.mjs'],
    })
    const migrated = (await migrate.wait()) as { StatusCode: number }
    const migrateLog = await logsOf(migrate.id)
    expect(migrated.StatusCode, migrateLog).toBe(0)
    expect(migrateLog).toMatch(/applied \d+ migrations \(0 were applied before\)/)

    // The gateway, as in docker/compose.yaml: the HAProxy of the worker's image on the same
    // machine, as the same user, with the gateway folder the worker's agent keeps in line.
    const gateway = haproxyTargetAt(path.join(dir, 'gateway'))
    await mkdir(gateway.sitesDir, { recursive: true })
    await writeFile(gateway.config, renderMainConfig({ dir: gateway.dir, port: 8088 }))
    await run('chown', ['-R', '10001:10001', gateway.dir])
    await start('slipway-gateway', 'slipway/worker:test', {
      cmd: ['haproxy', '-db', ...haproxyStartArgs(gateway)],
      binds: [`${gateway.dir}:${gateway.dir}`],
    })

    // The API and the worker read the test's git repository, a folder of this machine
    // (file://); the worker writes the gateway folder.
    const url = `http://${host.address}:3000`
    const api = await start('slipway-api', 'slipway/api:test', {
      env: [...env, `SLIPWAY_PUBLIC_URL=${url}`],
      binds: [`${dir}:${dir}:ro`],
    })
    await start('slipway-worker', 'slipway/worker:test', {
      env: [
        ...env,
        'WORKER_ID=container-1',
        `GATEWAY_DIR=${gateway.dir}`,
        'GATEWAY_BIND_ADDRESS=0.0.0.0',
        `SLIPWAY_PUBLIC_URL=${url}`,
      ],
      binds: [`${dir}:${dir}:ro`, `${gateway.dir}:${gateway.dir}`],
    })
    await eventually(
      'the API in its container to answer',
      async () => {
        const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(
          () => undefined,
        )
        return response?.ok ? true : undefined
      },
      60_000,
    )
    const dashboard = await fetch(`${url}/`)
    expect(dashboard.status).toBe(200)
    expect(await dashboard.text()).toContain('<div id="root">')
    const inspected = await docker().getContainer(api.id).inspect()
    expect(inspected.Config.User).toBe('10001:10001')

    const demo = await setupDemo({ url, dir })
    const sha = await demo.commit({ version: '7.0.0', message: 'release 7.0.0 from the containers' })
    // Git refuses a repository owned by another user: the containers' user owns it from here on.
    await run('chown', ['-R', '10001:10001', demo.repo])
    /** GET through an environment's gateway, on the machine the containers run on. */
    const viaGateway = async (port: number) => (await fetch(`http://${host.address}:${port}/`)).text()
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    expect(started.status).toBe(201)
    const waiting = await pipelineIn(demo.developer, started.body.id, ['waiting', 'failed'])
    expect(waiting.status, JSON.stringify(waiting.stages)).toBe('waiting')
    expect(await viaGateway(demo.gatewayPorts['pre-release'])).toContain('demo 7.0.0 ENVT=pre-release')
    const approval = waiting.stages.find((stage: { kind: string }) => stage.kind === 'approval')
    const approved = await demo.tester.post(
      `/api/pipelines/${started.body.id}/stages/${approval.id}/approve`,
      {
        comment: 'verified',
      },
    )
    expect(approved.status).toBe(200)
    const done = await pipelineIn(demo.developer, started.body.id, ['succeeded', 'failed'])
    expect(done.status, JSON.stringify(done.stages)).toBe('succeeded')
    expect(await viaGateway(demo.gatewayPorts.production)).toContain('demo 7.0.0 ENVT=production')
    process.stdout.write(
      `[containers] images built in ${buildSeconds.toFixed(1)} s; pipeline ${started.body.id} succeeded\n`,
    )
  })
})
