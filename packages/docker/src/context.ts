import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Readable } from 'node:stream'
import type { Ignore } from '@balena/dockerignore'
import { pack } from 'tar-fs'

// A CommonJS module whose type definitions claim an ES default export.
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as (options: {
  ignorecase: boolean
}) => Ignore

/**
 * Packs a build context as `docker build` does: every file under `contextDir` except those
 * matched by its `.dockerignore`. The Dockerfile and `.dockerignore` are always sent.
 */
export async function packContext(contextDir: string, dockerfile: string): Promise<Readable> {
  const rules = await readFile(path.join(contextDir, '.dockerignore'), 'utf8').catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return ''
      throw error
    },
  )
  const matcher = dockerignore({ ignorecase: false }).add(rules)
  const always = new Set([path.normalize(dockerfile), '.dockerignore'])
  return pack(contextDir, {
    ignore(name: string) {
      const relative = path.relative(contextDir, name)
      if (relative === '' || always.has(relative)) return false
      return matcher.ignores(relative)
    },
  })
}
