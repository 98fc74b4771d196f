import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fleet } from '@slipway/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { checkoutCommit } from './checkout.ts'
import { maskUrl } from './git.ts'
import { resolveRef } from './remote.ts'

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
})
