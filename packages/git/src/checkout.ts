import { mkdir } from 'node:fs/promises'
import { AppError } from '@slipway/core'
import { type GitOptions, git, maskUrl } from './git.ts'

export interface Checkout {
  sha: string
  /** First line of the commit message. */
  title: string
}

/**
 * Fetches exactly one commit (shallow) into `dir` and checks it out, then verifies HEAD is
 * that commit. Falls back to a full fetch when the server refuses to serve a commit by id.
 */
export async function checkoutCommit(
  url: string,
  sha: string,
  dir: string,
  options: GitOptions & { onLog?: (line: string) => void } = {},
): Promise<Checkout> {
  if (!/^[0-9a-f]{40}$/.test(sha)) throw new AppError('VALIDATION_FAILED', `not a commit SHA: ${sha}`)
  const log = options.onLog ?? (() => undefined)
  await mkdir(dir, { recursive: true })
  const run = (args: string[]) => git(args, { ...options, cwd: dir })
  await run(['init', '--quiet'])
  log(`git fetch --depth 1 ${maskUrl(url)} ${sha}`)
  try {
    await run(['fetch', '--quiet', '--depth', '1', '--no-tags', '--', url, sha])
  } catch (error) {
    if (error instanceof AppError && (error.code === 'CANCELED' || error.code === 'TIMEOUT')) throw error
    log('shallow fetch by commit refused; fetching all branches and tags')
    await run(['fetch', '--quiet', '--tags', '--', url, '+refs/heads/*:refs/remotes/origin/*'])
  }
  await run(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', sha, '--'])
  const head = (await run(['rev-parse', 'HEAD'])).trim()
  if (head !== sha) throw new AppError('INTERNAL', `checked out ${head}, expected ${sha}`)
  const title = (await run(['log', '-1', '--format=%s'])).trim()
  log(`checked out ${sha.slice(0, 12)} ${title}`)
  return { sha, title }
}
