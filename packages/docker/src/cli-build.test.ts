import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fleetHost, integrationTest as test } from '@slipway/testing'
import { describe, expect, it } from 'vitest'
import { buildFailure, cliBuildArgs, cliEndpointArgs } from './cli-build.ts'
import { DockerodeHost } from './dockerode-host.ts'

const files = { ca: '/d/ca.pem', cert: '/d/cert.pem', key: '/d/key.pem' }

describe('the docker CLI command line', () => {
  it('reaches each kind of endpoint as dockerode does, TLS always verified', () => {
    expect(cliEndpointArgs({ endpoint: 'unix:///var/run/docker%20x.sock' }, files)).toEqual([
      '-H',
      'unix:///var/run/docker x.sock',
    ])
    expect(cliEndpointArgs({ endpoint: 'tcp://10.0.0.2' }, files)).toEqual(['-H', 'tcp://10.0.0.2:2375'])
    expect(
      cliEndpointArgs({ endpoint: 'tcp://10.0.0.2:2376', tls: { ca: 'C', cert: 'P', key: 'K' } }, files),
    ).toEqual([
      '-H',
      'tcp://10.0.0.2:2376',
      '--tlsverify',
      '--tlscacert=/d/ca.pem',
      '--tlscert=/d/cert.pem',
      '--tlskey=/d/key.pem',
    ])
    // https without a CA of its own: verified against the system's roots, not skipped.
    expect(cliEndpointArgs({ endpoint: 'https://[fd00::5]' }, files)).toEqual([
      '-H',
      'tcp://[fd00::5]:2376',
      '--tlsverify',
      '--tlscacert=',
    ])
    expect(cliEndpointArgs({ endpoint: 'ssh://deploy@host:2222' }, files)).toEqual([
      '-H',
      'ssh://deploy@host:2222',
    ])
    expect(() => cliEndpointArgs({ endpoint: 'ftp://x' }, files)).toThrow(/unsupported Docker endpoint/)
  })

  it('names secrets by id and file, never by value; the context comes after --', () => {
    const args = cliBuildArgs({
      tags: ['r:5000/a:1', 'r:5000/a:2'],
      buildArgs: { VISIBLE: 'yes' },
      labels: { 'slipway.project': 'a' },
      dockerfile: 'docker/Dockerfile',
      contextDir: '/ctx',
      iidFile: '/d/iid',
      secretFiles: { NPM_TOKEN: '/d/secrets/0' },
    })
    expect(args).toEqual([
      'build',
      '--progress=plain',
      '--iidfile=/d/iid',
      '--file=/ctx/docker/Dockerfile',
      '--tag=r:5000/a:1',
      '--tag=r:5000/a:2',
      '--label=slipway.project=a',
      '--build-arg=VISIBLE=yes',
      '--secret=id=NPM_TOKEN,src=/d/secrets/0',
      '--',
      '/ctx',
    ])
  })

  it('explains a failed build with BuildKit’s last line', () => {
    expect(
      buildFailure([
        '#5 ERROR: x',
        '------',
        'executor failed running [/bin/sh -c exit 3]: exit code: 3',
        '',
      ]),
    ).toBe('executor failed running [/bin/sh -c exit 3]: exit code: 3')
    expect(buildFailure([])).toBe('docker build failed without saying why')
  })
})

describe('a build through the CLI', () => {
  it('against a daemon that is not there fails as HOST_UNREACHABLE (another attempt), naming the host', async () => {
    const ghost = new DockerodeHost('ghost', { endpoint: 'unix:///tmp/slipway-no-such-daemon.sock' })
    const dir = await mkdtemp(path.join(tmpdir(), 'slipway-ghost-'))
    try {
      await writeFile(path.join(dir, 'Dockerfile'), 'FROM slipway/busybox:1\n')
      await expect(ghost.build({ contextDir: dir, tags: ['slipway-test/ghost:1'] })).rejects.toMatchObject({
        code: 'HOST_UNREACHABLE',
        message: expect.stringContaining('ghost'),
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('with no docker CLI installed says so', async () => {
    const host = new DockerodeHost(
      'build-x',
      { endpoint: 'unix:///tmp/x.sock' },
      { dockerCli: '/nonexistent/docker' },
    )
    const dir = await mkdtemp(path.join(tmpdir(), 'slipway-nocli-'))
    try {
      await expect(host.build({ contextDir: dir, tags: ['slipway-test/x:1'] })).rejects.toMatchObject({
        code: 'INTERNAL',
        message: expect.stringContaining('the docker CLI /nonexistent/docker is not installed'),
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('a build through the CLI on build-1', () => {
  test('canceled mid-step: the CLI is killed, the call fails CANCELED, its private folder is gone', async () => {
    const host = new DockerodeHost('build-1', fleetHost('build-1'))
    const dir = await mkdtemp(path.join(tmpdir(), 'slipway-cancel-'))
    const before = new Set((await readdir(tmpdir())).filter((name) => name.startsWith('slipway-build-')))
    try {
      await writeFile(
        path.join(dir, 'Dockerfile'),
        `FROM slipway/busybox:1\nRUN echo started-${Date.now()} && sleep 60\n`,
      )
      const controller = new AbortController()
      const building = host.build({
        contextDir: dir,
        tags: ['slipway-test/cancel:1'],
        signal: controller.signal,
        secrets: { TOKEN: 'cancel-secret-value' },
        onLog: (line) => {
          if (/ started-\d+$/.test(line)) controller.abort('canceled')
        },
      })
      await expect(building).rejects.toMatchObject({ code: 'CANCELED' })
      const left = (await readdir(tmpdir())).filter(
        (name) => name.startsWith('slipway-build-') && !before.has(name),
      )
      expect(left).toEqual([])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
