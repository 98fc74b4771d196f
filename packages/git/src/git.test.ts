import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createLogger } from '@slipway/core'
import { fleet, makeTestRepo } from '@slipway/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { checkoutCommit } from './checkout.ts'
import { maskUrl } from './git.ts'
import { commitForRef, commitOnRef, refChecker, resolveRef } from './remote.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})
async function tempDir() {
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-git-'))
  dirs.push(dir)
  return dir
}

describe('git', () => {
  it('resolves branches and tags on the demo repository', async () => {
    const main = await resolveRef(fleet().demoRepoUrl, 'main')
    expect(main).toMatchObject({ kind: 'branch', fullRef: 'refs/heads/main' })
    expect(main.sha).toMatch(/^[0-9a-f]{40}$/)
    const tag = await resolveRef(fleet().demoRepoUrl, 'v1.0.0')
    expect(tag).toMatchObject({ kind: 'tag', fullRef: 'refs/tags/v1.0.0' })
    expect(tag.sha).not.toBe(main.sha)
  })

  it('reports an unknown ref as a validation error naming it', async () => {
    await expect(resolveRef(fleet().demoRepoUrl, 'no-such-branch')).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('no branch or tag named no-such-branch'),
    })
  })

  it('checks out exactly the requested commit', async () => {
    const tag = await resolveRef(fleet().demoRepoUrl, 'v1.0.0')
    const dir = await tempDir()
    const lines: string[] = []
    const result = await checkoutCommit(fleet().demoRepoUrl, tag.sha, dir, {
      onLog: (line) => lines.push(line),
    })
    expect(result).toEqual({ sha: tag.sha, title: 'demo 1.0.0' })
    expect((await readFile(path.join(dir, 'VERSION'), 'utf8')).trim()).toBe('1.0.0')
    expect(lines.at(-1)).toContain('demo 1.0.0')
  })

  it('fails clearly for a commit the repository does not have', async () => {
    await expect(checkoutCommit(fleet().demoRepoUrl, 'f'.repeat(40), await tempDir())).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
      message: expect.stringMatching(/^git checkout failed: .*ffffffff/),
    })
  })

  it('can be canceled', async () => {
    const controller = new AbortController()
    controller.abort()
    const tag = await resolveRef(fleet().demoRepoUrl, 'v1.0.0')
    await expect(
      checkoutCommit(fleet().demoRepoUrl, tag.sha, await tempDir(), { signal: controller.signal }),
    ).rejects.toMatchObject({ code: 'CANCELED' })
  })

  it('masks credentials in URLs', () => {
    expect(maskUrl('fatal: https://ci:glpat-123@gitlab.local/a.git not found')).toBe(
      'fatal: https://***@gitlab.local/a.git not found',
    )
  })

  it('tells whether a commit belongs to a branch or tag on the remote', async () => {
    const repo = await makeTestRepo({ commits: 3 })
    try {
      const [first, , head] = repo.main as [string, string, string]
      const main = { kind: 'branch' as const, name: 'main' }
      expect(await commitOnRef(repo.url, main, head)).toEqual({ belongs: true, head })
      // An older commit of the branch (a push reported after the branch moved on) belongs.
      expect(await commitOnRef(repo.url, main, first)).toEqual({ belongs: true, head })
      // A feature branch's commit labelled main does not.
      expect(await commitOnRef(repo.url, main, repo.feature)).toEqual({
        belongs: false,
        head,
        reason: `${repo.feature} is not on branch main`,
      })
      expect(await commitOnRef(repo.url, main, 'f'.repeat(40))).toMatchObject({ belongs: false })
      expect(await commitOnRef(repo.url, { kind: 'branch', name: 'nope' }, head)).toEqual({
        belongs: false,
        reason: 'the repository has no branch named nope',
      })
      // A tag is exactly its commit: the annotated tag's commit, never the tag object.
      const tag = { kind: 'tag' as const, name: repo.annotated.name }
      expect(await commitOnRef(repo.url, tag, repo.annotated.commit)).toMatchObject({ belongs: true })
      expect(await commitOnRef(repo.url, tag, repo.annotated.object)).toMatchObject({ belongs: false })
      expect(await commitOnRef(repo.url, tag, first)).toEqual({
        belongs: false,
        head,
        reason: `tag v1.0.0 points at ${head}, not ${first}`,
      })
      const light = { kind: 'tag' as const, name: repo.lightweight.name }
      expect(await commitOnRef(repo.url, light, repo.lightweight.commit)).toMatchObject({ belongs: true })
    } finally {
      await repo.remove()
    }
  })

  it('gives a pipeline the ref head, or a given SHA only when it is on the ref', async () => {
    const repo = await makeTestRepo()
    try {
      const [first, head] = repo.main as [string, string]
      expect(await commitForRef(repo.url, 'main', undefined)).toBe(head)
      expect(await commitForRef(repo.url, 'main', first)).toBe(first)
      expect(await commitForRef(repo.url, 'v1.0.0', repo.annotated.commit)).toBe(repo.annotated.commit)
      await expect(commitForRef(repo.url, 'main', repo.feature)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        message: `${repo.feature} does not belong to branch main`,
        details: { fields: [{ path: 'body.sha', message: `${repo.feature} is not on branch main` }] },
      })
      await expect(commitForRef(repo.url, 'v1.0.0', first)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      })
    } finally {
      await repo.remove()
    }
  })

  it('never carries credentials of a URL in a failure, its cause or its log line', async () => {
    const url = 'https://ci:glpat-leak-check@127.0.0.1:1/team/app.git'
    const error = await resolveRef(url, 'main').catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' })
    const lines: string[] = []
    const logger = createLogger({
      name: 'git-test',
      level: 'info',
      destination: { write: (l: string) => void lines.push(l) },
    })
    logger.warn({ err: error }, 'ls-remote failed')
    expect(lines.join('')).toContain('ls-remote')
    expect(lines.join('')).not.toContain('glpat-leak-check')
    expect(String((error as Error).cause)).not.toContain('glpat-leak-check')
  })

  it('answers a burst of checks through one shared, bounded checker', async () => {
    const repo = await makeTestRepo()
    try {
      const { commitOnRef: check } = refChecker({ concurrency: 2 })
      const main = { kind: 'branch' as const, name: 'main' }
      const shas = Array.from(
        { length: 30 },
        (_, i) => [repo.main[1], repo.main[0], repo.feature][i % 3] as string,
      )
      const answers = await Promise.all(shas.map((sha) => check(repo.url, main, sha)))
      expect(answers.map((answer) => answer.belongs)).toEqual(shas.map((sha) => sha !== repo.feature))
    } finally {
      await repo.remove()
    }
  })
})
