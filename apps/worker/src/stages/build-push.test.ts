import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { type Db, secretContext } from '@slipway/db'
import { DockerodeHost } from '@slipway/docker'
import { type LogLimits, logStreamKey, StageLog } from '@slipway/runs'
import { type Fleet, fleetHost, integrationTest, pulledFromRegistry } from '@slipway/testing'
import type { Redis } from 'ioredis'
import { describe, expect } from 'vitest'
import { createWorkerDeps, type WorkerDeps } from '../deps.ts'
import { buildStage, secretsDeclaredAsArgs } from './build.ts'
import { pushStage } from './push.ts'
import type { StageContext } from './runner.ts'
import { stageSecrets } from './secrets.ts'

const run = promisify(execFile)
const logger = createLogger({ name: 'build-push-test', level: 'silent' })

/** A one-commit git repository holding `files` and symbolic `links` (name: target), served over file://. */
async function repoWith(
  files: Record<string, string>,
  links: Record<string, string> = {},
): Promise<{ url: string; sha: string; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-secret-repo-'))
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text)
  for (const [name, target] of Object.entries(links)) await symlink(target, path.join(dir, name))
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.com',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.com',
  }
  await run('git', ['init', '--quiet', '--initial-branch=main', dir])
  await run('git', ['-C', dir, 'add', '.'], { env })
  await run('git', ['-C', dir, 'commit', '--quiet', '-m', 'app'], { env })
  const sha = (await run('git', ['-C', dir, 'rev-parse', 'HEAD'])).stdout.trim()
  return { url: `file://${dir}`, sha, dir }
}

/** A project on the fleet's registry whose build secret is `secret`, a pipeline of build + push on build-1. */
async function pipelineOf(
  deps: WorkerDeps,
  fleet: Fleet,
  testId: string,
  repo: { url: string; sha: string },
  secret: string,
) {
  const { db } = deps
  const tls = fleetHost('build-1').tls
  const host = await db.host.create({
    data: {
      name: 'build-1',
      endpoint: fleetHost('build-1').endpoint,
      address: fleetHost('build-1').address,
      tlsCaPem: tls.ca,
      tlsCertPem: tls.cert,
      agentGroup: 'default',
    },
  })
  await db.host.update({
    where: { id: host.id },
    data: { tlsKeyEnc: deps.secrets.encrypt(tls.key!, secretContext.hostTlsKey(host.id)) },
  })
  const registry = await db.registry.create({
    data: { name: 'fleet', url: fleet.registry.url, username: fleet.registry.username },
  })
  await db.registry.update({
    where: { id: registry.id },
    data: {
      passwordEnc: deps.secrets.encrypt(fleet.registry.password, secretContext.registryPassword(registry.id)),
    },
  })
  const project = await db.project.create({
    data: {
      slug: `secret-${testId}`,
      name: 'secret',
      gitUrl: repo.url,
      imageRepository: `test/secret-${testId}`,
      registryId: registry.id,
      buildArgs: { VISIBLE: 'not-a-secret' },
      appSpec: {},
      hostGrants: { create: { hostId: host.id } },
      registryGrants: { create: { registryId: registry.id, pathPrefix: 'test' } },
    },
  })
  const updated = await db.project.update({
    where: { id: project.id },
    data: {
      buildSecrets: {
        NPM_TOKEN: deps.secrets.encrypt(secret, secretContext.projectBuildSecret(project.id, 'NPM_TOKEN')),
      },
    },
  })
  const pipeline = await db.pipeline.create({
    data: {
      projectId: project.id,
      number: 1,
      ref: 'main',
      commitSha: repo.sha,
      trigger: 'manual',
      status: 'running',
      stages: {
        create: [
          { position: 0, kind: 'build', status: 'running', attempt: 1, hostName: 'build-1' },
          { position: 1, kind: 'push', status: 'queued', hostName: 'build-1' },
        ],
      },
    },
    include: { stages: { orderBy: { position: 'asc' } } },
  })
  return { project: updated, pipeline }
}

/** Runs a stage handler as the runner does: its secrets known first, its log masked. */
async function runHandler(
  deps: WorkerDeps,
  handler: (context: StageContext) => Promise<{ result?: Record<string, unknown> }>,
  stage: StageContext['stage'],
  pipeline: StageContext['pipeline'],
  project: StageContext['project'],
  limits?: LogLimits,
) {
  const secrets = await stageSecrets(deps, stage, project)
  const log = await StageLog.open({
    db: deps.db,
    redis: deps.redis,
    prefix: deps.prefix,
    stageId: stage.id,
    logger,
    secrets,
    limits,
  })
  try {
    return await handler({
      deps,
      stage,
      pipeline,
      project,
      log,
      signal: AbortSignal.timeout(120_000),
      secrets,
      patient: (work) => work(),
    })
  } finally {
    await log.close()
  }
}

async function logText(db: Db, stageId: string): Promise<string> {
  const chunks = await db.stageLogChunk.findMany({ where: { stageId }, orderBy: { firstSeq: 'asc' } })
  return chunks
    .flatMap((chunk) => (chunk.lines as [number, number, string][]).map((line) => line[2]))
    .join('\n')
}

function workerDeps(db: Db, redis: Redis, prefix: string, workDir: string): WorkerDeps {
  return createWorkerDeps({
    db,
    redis,
    prefix,
    secrets: createSecretBox(parseKeyring(generateKeySpec())),
    logger,
    workerId: 'w-build-push',
    workDir,
  })
}

describe('build secrets', () => {
  integrationTest(
    'a RUN reads the secret through its mount; the pushed image (config, history, every layer) and the log do not hold it',
    async ({ db, redis, redisPrefix, fleet, testId }) => {
      const secret = `npm-secret-${testId}-${Math.random().toString(36).slice(2)}`
      const digestOfSecret = createHash('sha256').update(secret).digest('hex')
      const repo = await repoWith({
        Dockerfile:
          'FROM slipway/busybox:1\nARG VISIBLE\n' +
          'RUN --mount=type=secret,id=NPM_TOKEN sha256sum /run/secrets/NPM_TOKEN > /token.sha256 && ' +
          // (the test id keeps the step out of the cache: a secret's value is not part of the cache key)
          `echo "visible is $VISIBLE, token is $(cat /run/secrets/NPM_TOKEN)" # ${testId}\n`,
      })
      const workDir = await mkdtemp(path.join(tmpdir(), 'slipway-work-'))
      const deps = workerDeps(db, redis, redisPrefix, workDir)
      const { project, pipeline } = await pipelineOf(deps, fleet, testId, repo, secret)
      const [build, push] = pipeline.stages as [StageContext['stage'], StageContext['stage']]
      try {
        const built = await runHandler(deps, buildStage, build, pipeline, project)
        const imageId = built.result?.imageId as string
        expect(imageId).toMatch(/^sha256:[a-f0-9]{64}$/)
        await db.stage.update({
          where: { id: build.id },
          data: { status: 'succeeded', result: built.result as never },
        })

        const pushed = await runHandler(deps, pushStage, push, pipeline, project)
        const digest = pushed.result?.digest as string

        const image = await pulledFromRegistry(fleet, project.imageRepository, digest)
        // The registry's image is the one built (its config is the image id) ...
        expect(image.manifest.config.digest).toBe(imageId)
        // ... whose RUN read the secret (its layer holds the secret's hash) ...
        expect(image.layers.some((layer) => layer.includes(digestOfSecret))).toBe(true)
        // ... and nothing of it holds the secret: not the config (with its history), not a layer.
        // (a build argument's value is there, in the history: what secrets must never be)
        expect(image.config.toString('utf8')).toContain('VISIBLE=not-a-secret')
        expect(image.config.includes(secret)).toBe(false)
        for (const layer of image.layers) expect(layer.includes(secret)).toBe(false)

        const buildLog = await logText(db, build.id)
        expect(buildLog).toContain('token is ••••••')
        expect(buildLog).toContain('visible is not-a-secret')
        expect(buildLog).not.toContain(secret)
      } finally {
        await rm(workDir, { recursive: true, force: true })
        await rm(repo.dir, { recursive: true, force: true })
      }
    },
    180_000,
  )

  integrationTest(
    'a Dockerfile that still declares a build secret as ARG is refused, saying to use a secret mount',
    async ({ db, redis, redisPrefix, fleet, testId }) => {
      const repo = await repoWith({
        Dockerfile: 'FROM slipway/busybox:1\nARG NPM_TOKEN\nRUN echo "token is $NPM_TOKEN"\n',
      })
      const workDir = await mkdtemp(path.join(tmpdir(), 'slipway-work-'))
      const deps = workerDeps(db, redis, redisPrefix, workDir)
      const { project, pipeline } = await pipelineOf(deps, fleet, testId, repo, 'old-style-secret-value')
      try {
        await expect(
          runHandler(deps, buildStage, pipeline.stages[0]!, pipeline, project),
        ).rejects.toMatchObject({
          code: 'PRECONDITION_FAILED',
          message: expect.stringContaining('--mount=type=secret,id=NPM_TOKEN'),
        })
      } finally {
        await rm(workDir, { recursive: true, force: true })
        await rm(repo.dir, { recursive: true, force: true })
      }
    },
  )
})

describe('paths that leave the repository', () => {
  /** A file and a folder outside the checkout are linked to from the repository. */
  const cases: Array<{
    name: string
    links: (outside: string) => Record<string, string>
    context: string
    dockerfile: string
    says: string
  }> = [
    {
      name: 'a Dockerfile linked to a file elsewhere',
      links: (outside) => ({ Dockerfile: path.join(outside, 'Dockerfile') }),
      context: '.',
      dockerfile: 'Dockerfile',
      says: 'Dockerfile leads outside the repository',
    },
    {
      name: 'a Dockerfile linked upwards by a relative path',
      links: () => ({ Dockerfile: '../../../../../../../etc/hostname' }),
      context: '.',
      dockerfile: 'Dockerfile',
      says: 'Dockerfile leads outside the repository',
    },
    {
      name: 'a build context linked to a folder elsewhere',
      links: (outside) => ({ app: path.join(outside, 'app') }),
      context: 'app',
      dockerfile: 'app/Dockerfile',
      says: 'the build context app leads outside the repository',
    },
  ]
  for (const c of cases) {
    integrationTest(
      `${c.name} is refused before the build, its content unread`,
      async ({ db, redis, redisPrefix, fleet, testId }) => {
        const outside = await mkdtemp(path.join(tmpdir(), 'slipway-outside-'))
        const planted = `planted-${testId}-${Math.random().toString(36).slice(2)}`
        await writeFile(path.join(outside, 'Dockerfile'), `FROM slipway/busybox:1\n${planted}\n`)
        await mkdir(path.join(outside, 'app'))
        await writeFile(path.join(outside, 'app', 'Dockerfile'), `FROM slipway/busybox:1\n${planted}\n`)
        const repo = await repoWith({ 'README.md': 'links\n' }, c.links(outside))
        const workDir = await mkdtemp(path.join(tmpdir(), 'slipway-work-'))
        const deps = workerDeps(db, redis, redisPrefix, workDir)
        const { project, pipeline } = await pipelineOf(deps, fleet, testId, repo, 'unused-secret-value')
        const linked = await db.project.update({
          where: { id: project.id },
          data: { buildContext: c.context, dockerfilePath: c.dockerfile },
        })
        const build = pipeline.stages[0]!
        try {
          await expect(runHandler(deps, buildStage, build, pipeline, linked)).rejects.toMatchObject({
            code: 'PRECONDITION_FAILED',
            message: expect.stringContaining(c.says),
          })
          expect(await logText(db, build.id)).not.toContain(planted)
        } finally {
          await rm(workDir, { recursive: true, force: true })
          await rm(repo.dir, { recursive: true, force: true })
          await rm(outside, { recursive: true, force: true })
        }
      },
    )
  }
})

describe('the push stage', () => {
  integrationTest(
    'pushes the image id the build recorded, even when the tag was moved to another image since',
    async ({ db, redis, redisPrefix, fleet, testId }) => {
      const repo = await repoWith({ Dockerfile: `FROM slipway/busybox:1\nRUN echo ${testId} > /built\n` })
      const workDir = await mkdtemp(path.join(tmpdir(), 'slipway-work-'))
      const deps = workerDeps(db, redis, redisPrefix, workDir)
      const { project, pipeline } = await pipelineOf(deps, fleet, testId, repo, 'unused-secret-value')
      const [build, push] = pipeline.stages as [StageContext['stage'], StageContext['stage']]
      const host = new DockerodeHost('build-1', fleetHost('build-1'))
      try {
        const built = await runHandler(deps, buildStage, build, pipeline, project)
        const imageId = built.result?.imageId as string
        await db.stage.update({
          where: { id: build.id },
          data: { status: 'succeeded', result: built.result as never },
        })
        // Another build on the host moves the tag to a different image before the push.
        const tag = built.result?.image as string
        const other = await host.inspectImage('slipway/busybox:1')
        await host.tagImage('slipway/busybox:1', tag)
        expect((await host.inspectImage(tag))?.id).toBe(other?.id)

        const pushed = await runHandler(deps, pushStage, push, pipeline, project)
        expect(pushed.result?.imageId).toBe(imageId)
        const image = await pulledFromRegistry(
          fleet,
          project.imageRepository,
          pushed.result?.digest as string,
        )
        expect(image.manifest.config.digest).toBe(imageId)
        const stored = await db.pipeline.findUniqueOrThrow({ where: { id: pipeline.id } })
        expect(stored.imageDigest).toBe(
          `${fleet.registry.url}/${project.imageRepository}@${pushed.result?.digest}`,
        )
      } finally {
        await rm(workDir, { recursive: true, force: true })
        await rm(repo.dir, { recursive: true, force: true })
      }
    },
    180_000,
  )
})

describe('the push stage, when the tag moves during the push', () => {
  integrationTest(
    'fails PUSH_FAILED (the registry took another image) and records no digest',
    async ({ db, redis, redisPrefix, fleet, testId }) => {
      const repo = await repoWith({ Dockerfile: `FROM slipway/busybox:1\nRUN echo ${testId} > /built\n` })
      const workDir = await mkdtemp(path.join(tmpdir(), 'slipway-work-'))
      const deps = workerDeps(db, redis, redisPrefix, workDir)
      const { project, pipeline } = await pipelineOf(deps, fleet, testId, repo, 'unused-secret-value')
      const [build, push] = pipeline.stages as [StageContext['stage'], StageContext['stage']]
      // A real build-1 on which another build moves the tag between our tag and our push.
      class RacedHost extends DockerodeHost {
        override async push(...args: Parameters<DockerodeHost['push']>) {
          await this.tagImage('slipway/busybox:1', args[0])
          return super.push(...args)
        }
      }
      const raced = new RacedHost('build-1', fleetHost('build-1'))
      try {
        const built = await runHandler(deps, buildStage, build, pipeline, project)
        await db.stage.update({
          where: { id: build.id },
          data: { status: 'succeeded', result: built.result as never },
        })
        const racedDeps = { ...deps, hosts: { get: () => raced } as unknown as WorkerDeps['hosts'] }
        await expect(runHandler(racedDeps, pushStage, push, pipeline, project)).rejects.toMatchObject({
          code: 'PUSH_FAILED',
          message: expect.stringContaining(`which is not the image built (${built.result?.imageId})`),
        })
        expect((await db.pipeline.findUniqueOrThrow({ where: { id: pipeline.id } })).imageDigest).toBeNull()
      } finally {
        await rm(workDir, { recursive: true, force: true })
        await rm(repo.dir, { recursive: true, force: true })
      }
    },
    180_000,
  )
})

describe('a build printing far more than its log keeps', () => {
  integrationTest(
    'succeeds; its log keeps the limit and one truncation line, its live stream stays bounded',
    async ({ db, redis, redisPrefix, fleet, testId }) => {
      // 40,000 lines of output (BuildKit's own per-step cap is far above this).
      const repo = await repoWith({
        Dockerfile: `FROM slipway/busybox:1\nRUN seq 1 40000 && echo ${testId}\n`,
      })
      const workDir = await mkdtemp(path.join(tmpdir(), 'slipway-work-'))
      const deps = workerDeps(db, redis, redisPrefix, workDir)
      const { project, pipeline } = await pipelineOf(deps, fleet, testId, repo, 'unused-secret-value')
      const build = pipeline.stages[0]!
      try {
        const limits = { lines: 2000, bytes: 10 * 1024 * 1024 }
        const built = await runHandler(deps, buildStage, build, pipeline, project, limits)
        expect(built.result?.imageId).toMatch(/^sha256:/)
        const lines = (
          await db.stageLogChunk.findMany({ where: { stageId: build.id }, orderBy: { firstSeq: 'asc' } })
        ).flatMap((chunk) => chunk.lines as [number, number, string][])
        expect(lines).toHaveLength(2001)
        expect(lines.filter((line) => line[2].startsWith('… log truncated'))).toHaveLength(1)
        expect(lines.at(-1)?.[2]).toMatch(/^… log truncated: this attempt printed more than 2,000 lines/)
        expect(await redis.xlen(logStreamKey(redisPrefix, build.id))).toBe(2001)
      } finally {
        await rm(workDir, { recursive: true, force: true })
        await rm(repo.dir, { recursive: true, force: true })
      }
    },
    180_000,
  )
})

describe('secretsDeclaredAsArgs', () => {
  integrationTest('finds the secrets a Dockerfile declares with ARG, in any of its forms', () => {
    const secrets = ['NPM_TOKEN', 'PIP_TOKEN', 'OTHER']
    expect(secretsDeclaredAsArgs('FROM x\nRUN echo\n', secrets)).toEqual([])
    expect(secretsDeclaredAsArgs('FROM x\nARG NPM_TOKEN\n', secrets)).toEqual(['NPM_TOKEN'])
    expect(secretsDeclaredAsArgs('FROM x\n  arg PIP_TOKEN=default\n', secrets)).toEqual(['PIP_TOKEN'])
    expect(secretsDeclaredAsArgs('FROM x\nARG A NPM_TOKEN=1 PIP_TOKEN\n', secrets)).toEqual([
      'NPM_TOKEN',
      'PIP_TOKEN',
    ])
    expect(secretsDeclaredAsArgs('FROM x\nARG \\\n  NPM_TOKEN\n', secrets)).toEqual(['NPM_TOKEN'])
    // A name that only contains a secret's name, a comment, or a RUN mentioning it is not a declaration.
    expect(
      secretsDeclaredAsArgs('ARG NPM_TOKEN_FILE\n# ARG NPM_TOKEN\nRUN echo ARG NPM_TOKEN\n', secrets),
    ).toEqual([])
  })
})
