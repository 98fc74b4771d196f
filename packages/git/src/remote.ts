import { AppError } from '@slipway/core'
import { type GitOptions, git, maskUrl } from './git.ts'

export interface ResolvedRef {
  sha: string
  kind: 'branch' | 'tag'
  /** refs/heads/main, refs/tags/v1.2.0 */
  fullRef: string
}

/** Resolves a branch or tag name on the remote to a commit (branches win over tags). */
export async function resolveRef(url: string, ref: string, options: GitOptions = {}): Promise<ResolvedRef> {
  const out = await git(
    ['ls-remote', '--', url, `refs/heads/${ref}`, `refs/tags/${ref}`, `refs/tags/${ref}^{}`],
    {
      timeoutMs: 20_000,
      ...options,
    },
  )
  const refs = new Map<string, string>()
  for (const line of out.split('\n')) {
    const [sha, name] = line.split('\t')
    if (sha && name) refs.set(name, sha)
  }
  const branch = refs.get(`refs/heads/${ref}`)
  if (branch) return { sha: branch, kind: 'branch', fullRef: `refs/heads/${ref}` }
  // An annotated tag points at a tag object; `^{}` is the commit it peels to.
  const tag = refs.get(`refs/tags/${ref}^{}`) ?? refs.get(`refs/tags/${ref}`)
  if (tag) return { sha: tag, kind: 'tag', fullRef: `refs/tags/${ref}` }
  throw new AppError('VALIDATION_FAILED', `no branch or tag named ${ref} in ${maskUrl(url)}`, {
    details: { fields: [{ path: 'body.ref', message: `no branch or tag named ${ref}` }] },
  })
}
