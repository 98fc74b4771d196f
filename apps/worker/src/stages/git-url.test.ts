import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { secretContext } from '@slipway/db'
import { checkoutCommit } from '@slipway/git'
import { makeTestRepo, servePrivateRepo, integrationTest as test } from '@slipway/testing'
import { describe, expect, onTestFinished } from 'vitest'
import { createWorkerDeps } from '../deps.ts'
import { projectGitUrl } from './build.ts'
import type { StageContext } from './runner.ts'
import { stageSecrets } from './secrets.ts'

const logger = createLogger({ name: 'git-url-test', level: 'silent' })
const token = 'glpat-worker-fetch-secret'

describe("a project's git URL credentials, encrypted apart from the URL", () => {
  test('are put back for git: the build checks out from a remote that needs them, and they are masked', async ({
    db,
    redis,
    redisPrefix,
  }) => {
    const repo = await makeTestRepo({ commits: 2 })
    onTestFinished(() => repo.remove())
    const served = await servePrivateRepo(repo.url.slice('file://'.length), 'ci', token)
    onTestFinished(() => served.close())
    const workDir = await mkdtemp(path.join(tmpdir(), 'slipway-git-url-'))
    onTestFinished(() => rm(workDir, { recursive: true, force: true }))
    const deps = createWorkerDeps({
      db,
      redis,
      prefix: redisPrefix,
      secrets: createSecretBox(parseKeyring(generateKeySpec())),
      logger,
      workerId: 'w-git-url',
      workDir,
    })
    const stored = served.url.replace(`ci:${token}@`, '')
    const created = await db.project.create({
      data: { slug: 'private', name: 'private', gitUrl: stored, imageRepository: 'x/y', appSpec: {} },
    })
    const project = await db.project.update({
      where: { id: created.id },
      data: {
        gitCredentialsEnc: deps.secrets.encrypt(
          `ci:${token}`,
          secretContext.projectGitCredentials(created.id),
        ),
      },
    })
    expect(JSON.stringify(project)).not.toContain(token)

    expect(projectGitUrl({ deps, project })).toBe(served.url)
    const lines: string[] = []
    const sha = repo.main[1] as string
    const checkout = await checkoutCommit(projectGitUrl({ deps, project }), sha, path.join(workDir, 'co'), {
      onLog: (line) => lines.push(line),
    })
    expect(checkout.sha).toBe(sha)
    expect(served.authorized()).toBeGreaterThan(0)
    expect(lines.join('\n')).not.toContain(token)

    const stage = { kind: 'build', environmentId: null } as StageContext['stage']
    expect(await stageSecrets(deps, stage, project)).toEqual(expect.arrayContaining([`ci:${token}`, token]))

    // A row whose credentials were not moved out of the URL yet: used (and masked) as stored.
    const legacy = await db.project.create({
      data: { slug: 'legacy', name: 'legacy', gitUrl: served.url, imageRepository: 'x/y', appSpec: {} },
    })
    expect(projectGitUrl({ deps, project: legacy })).toBe(served.url)
    expect(await stageSecrets(deps, stage, legacy)).toEqual(expect.arrayContaining([`ci:${token}`, token]))
  })
})
