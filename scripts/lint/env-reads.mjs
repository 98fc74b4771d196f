#!/usr/bin/env node
// Fails when production code reads process.env outside an app's config module (env.ts):
// packages take options as arguments, apps read their environment once, in env.ts.
// Tests, test support and the testing package may read it.
// Usage: node scripts/lint/env-reads.mjs   (run by `pnpm lint`)
import { execFileSync } from 'node:child_process'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '../..')
let listed = ''
try {
  listed = execFileSync(
    'git',
    [
      'grep',
      '-n',
      '--untracked',
      '-E',
      'process\\.env\\b',
      '--',
      ':(glob)apps/*/src/**',
      ':(glob)packages/*/src/**',
    ],
    { cwd: root, encoding: 'utf8' },
  )
} catch (error) {
  // git grep exits 1 when nothing matches: that is the good answer.
  if (error.status !== 1) throw error
}
const problems = listed
  .split('\n')
  .filter(Boolean)
  .filter((line) => {
    const [file = '', , ...rest] = line.split(':')
    const code = rest.join(':').trim()
    if (code.startsWith('*') || code.startsWith('//')) return false
    // The seed command parses its own few variables, as an app's env.ts does.
    if (/^apps\/[^/]+\/src\/env\.ts$/.test(file) || file === 'apps/api/src/seed.ts') return false
    if (/\.test\.tsx?$/.test(file) || file.includes('/test-support/') || /fixtures?\.ts$/.test(file))
      return false
    return !file.startsWith('packages/testing/')
  })
if (problems.length) {
  console.error(`process.env read outside an app's env.ts: ${problems.length}\n${problems.join('\n')}`)
  process.exit(1)
}
process.stdout.write('env-reads: process.env is read in the apps’ env.ts only\n')
