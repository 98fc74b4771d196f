import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { StageLog } from '@slipway/runs'
import { integrationTest as test } from '@slipway/testing'
import { describe, expect, it } from 'vitest'
import { createWorkerDeps } from '../deps.ts'
import { digestRefusal } from './approved-digest.ts'
import { deployStage } from './deploy.ts'

const logger = createLogger({ name: 'approved-digest-test', level: 'silent' })
const a = `registry:5000/shop@sha256:${'a'.repeat(64)}`
const b = `registry:5000/shop@sha256:${'b'.repeat(64)}`

describe('digestRefusal', () => {
  it('lets the image pushed and approved deploy, and refuses any other', () => {
    expect(digestRefusal({ deploying: a, pushed: a, approvals: [] })).toBeUndefined()
    expect(digestRefusal({ deploying: a, pushed: null, approvals: [] })).toBeUndefined()
    expect(
      digestRefusal({ deploying: a, pushed: a, approvals: [{ approvedDigest: a, approvers: [a, a] }] }),
    ).toBeUndefined()
    expect(digestRefusal({ deploying: b, pushed: a, approvals: [] })).toBe(
      `refusing to deploy ${b}: the push stage recorded ${a}`,
    )
    expect(
      digestRefusal({ deploying: b, pushed: b, approvals: [{ approvedDigest: a, approvers: [a] }] }),
    ).toMatch(`the approval was given for ${a}`)
    expect(
      digestRefusal({ deploying: b, pushed: b, approvals: [{ approvedDigest: null, approvers: [] }] }),
    ).toMatch('the approval was given for no image')
    expect(
      digestRefusal({ deploying: b, pushed: b, approvals: [{ approvedDigest: b, approvers: [b, a] }] }),
    ).toMatch(`an approver approved ${a}`)
  })
})

describe('the deploy stage', () => {
  test('refuses, before touching anything, an image other than the one approved', async ({
    db,
    redis,
    redisPrefix,
  }) => {
    const deps = createWorkerDeps({
      db,
      redis,
      prefix: redisPrefix,
      secrets: createSecretBox(parseKeyring(generateKeySpec())),
      logger,
      workerId: 'w-digest',
      workDir: '/tmp/slipway-digest-test',
    })
    const project = await db.project.create({
      data: { slug: 'shop', name: 'shop', gitUrl: 'file:///x.git', imageRepository: 'shop', appSpec: {} },
    })
    const environment = await db.environment.create({
      data: { projectId: project.id, name: 'production', position: 0, requiredApprovals: 1 },
    })
    const user = await db.user.create({ data: { email: 'a@example.com', name: 'A', passwordHash: 'x' } })
    // Approved while the image was `a`; then the image became `b` (pushed again after the approval).
    const pipeline = await db.pipeline.create({
      data: {
        projectId: project.id,
        number: 1,
        ref: 'main',
        commitSha: 'c'.repeat(40),
        trigger: 'manual',
        status: 'running',
        imageDigest: b,
        stages: {
          create: [
            { position: 0, kind: 'build', status: 'succeeded' },
            { position: 1, kind: 'push', status: 'succeeded', result: { image: b } },
            {
              position: 2,
              kind: 'approval',
              environmentId: environment.id,
              status: 'succeeded',
              result: { approvedDigest: a, approvals: 1 },
            },
            { position: 3, kind: 'deploy', environmentId: environment.id, status: 'running', attempt: 1 },
          ],
        },
      },
      include: { stages: { orderBy: { position: 'asc' } } },
    })
    await db.approval.create({
      data: {
        stageId: pipeline.stages[2]!.id,
        userId: user.id,
        decision: 'approved',
        comment: '',
        digest: a,
      },
    })
    const stage = pipeline.stages[3]!
    const log = await StageLog.open({
      db,
      redis,
      prefix: redisPrefix,
      stageId: stage.id,
      logger,
      secrets: [],
    })
    try {
      // As the runner gives it, with a deploy lease's fencing token.
      const context = {
        deps,
        stage,
        pipeline,
        project,
        log,
        signal: AbortSignal.timeout(30_000),
        secrets: [],
        patient: <T>(work: () => Promise<T>) => work(),
        deployLease: 'lease-token',
      }
      await expect(deployStage(context)).rejects.toMatchObject({
        code: 'PRECONDITION_FAILED',
        message: `refusing to deploy ${b}: the approval was given for ${a}; approve this image again in a new pipeline`,
      })
    } finally {
      await log.close()
    }
    expect(await db.release.count()).toBe(0)
  })
})
