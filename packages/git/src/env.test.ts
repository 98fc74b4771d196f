import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { makeTestRepo } from '@slipway/testing'
import { describe, expect, it } from 'vitest'
import { resolveRef } from './remote.ts'

describe('the environment git runs in', () => {
  it('is the one the app hands over, not the process environment', async () => {
    const repo = await makeTestRepo()
    const home = await mkdtemp(path.join(tmpdir(), 'slipway-git-home-'))
    try {
      // Only a git reading this HOME knows the alias.
      await writeFile(path.join(home, '.gitconfig'), `[url "${repo.url}"]\n\tinsteadOf = slipway-test:\n`)
      const env = { PATH: process.env.PATH, HOME: home }
      expect((await resolveRef('slipway-test:', 'main', { env })).sha).toBe(repo.main.at(-1))
      await expect(resolveRef('slipway-test:', 'main')).rejects.toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
      })
    } finally {
      await rm(home, { recursive: true, force: true })
      await repo.remove()
    }
  })
})
