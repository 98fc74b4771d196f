import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { AppError } from '@slipway/core'
import { type GitOptions, git, gitAnswer, maskUrl } from './git.ts'

export interface ResolvedRef {
  sha: string
  kind: 'branch' | 'tag'
  /** refs/heads/main, refs/tags/v1.2.0 */
  fullRef: string
}

/** The remote's refs named `refs/heads/<ref>` and `refs/tags/<ref>`, tags peeled to their commit. */
async function lsRemote(url: string, ref: string, options: GitOptions) {
  const out = await git(
    ['ls-remote', '--', url, `refs/heads/${ref}`, `refs/tags/${ref}`, `refs/tags/${ref}^{}`],
    { timeoutMs: 20_000, ...options },
  )
  const refs = new Map<string, string>()
  for (const line of out.split('\n')) {
    const [sha, name] = line.split('\t')
    if (sha && name) refs.set(name, sha)
  }
  return {
    branch: refs.get(`refs/heads/${ref}`),
    // An annotated tag points at a tag object; `^{}` is the commit it peels to.
    tag: refs.get(`refs/tags/${ref}^{}`) ?? refs.get(`refs/tags/${ref}`),
  }
}

/** Resolves a branch or tag name on the remote to a commit (branches win over tags). */
export async function resolveRef(url: string, ref: string, options: GitOptions = {}): Promise<ResolvedRef> {
  const { branch, tag } = await lsRemote(url, ref, options)
  if (branch) return { sha: branch, kind: 'branch', fullRef: `refs/heads/${ref}` }
  if (tag) return { sha: tag, kind: 'tag', fullRef: `refs/tags/${ref}` }
  throw new AppError('VALIDATION_FAILED', `no branch or tag named ${ref} in ${maskUrl(url)}`, {
    details: { fields: [{ path: 'body.ref', message: `no branch or tag named ${ref}` }] },
  })
}

/** Whether a commit belongs to a ref: `reason` says why not, in words a delivery log can show. */
export type RefMembership =
  | { belongs: true; head: string }
  | { belongs: false; head?: string; reason: string }

type RemoteRefs = Awaited<ReturnType<typeof lsRemote>>

/** How `commitOnRef` reaches the remote; `refChecker` shares and bounds these calls. */
interface RefAccess {
  refs(url: string, name: string, options: GitOptions): Promise<RemoteRefs>
  limited<T>(work: () => Promise<T>): Promise<T>
}

const direct: RefAccess = { refs: lsRemote, limited: (work) => work() }

/**
 * Whether `sha` belongs to the branch or tag on the remote: a tag's commit must be the one it
 * points at; a branch's must be its head or one of the head's ancestors (a push GitLab
 * reports late, after the branch moved on). Only when the head differs is the branch's
 * history fetched (commits only where the server allows) into a throwaway bare repository.
 */
export function commitOnRef(
  url: string,
  ref: { kind: 'branch' | 'tag'; name: string },
  sha: string,
  options: GitOptions = {},
): Promise<RefMembership> {
  return membership(direct, url, ref, sha, options)
}

/**
 * `commitOnRef` for a burst of deliveries: concurrent checks of one ref share one
 * `ls-remote`, and at most `concurrency` git commands run at once (a burst of 60 pushes is
 * one ls-remote, not 60 processes racing their time limits).
 */
export function refChecker(options: { concurrency?: number } = {}): { commitOnRef: typeof commitOnRef } {
  const inFlight = new Map<string, Promise<RemoteRefs>>()
  let running = 0
  const waiting: Array<() => void> = []
  const limited = async <T>(work: () => Promise<T>): Promise<T> => {
    if (running >= (options.concurrency ?? 4)) await new Promise<void>((resolve) => waiting.push(resolve))
    running++
    try {
      return await work()
    } finally {
      running--
      waiting.shift()?.()
    }
  }
  const access: RefAccess = {
    limited,
    refs(url, name, gitOptions) {
      const key = `${url}\n${name}`
      const shared = inFlight.get(key)
      if (shared) return shared
      const started = limited(() => lsRemote(url, name, gitOptions)).finally(() => inFlight.delete(key))
      inFlight.set(key, started)
      return started
    },
  }
  return { commitOnRef: (url, ref, sha, gitOptions = {}) => membership(access, url, ref, sha, gitOptions) }
}

async function membership(
  access: RefAccess,
  url: string,
  ref: { kind: 'branch' | 'tag'; name: string },
  sha: string,
  options: GitOptions,
): Promise<RefMembership> {
  if (!/^[0-9a-f]{40}$/.test(sha)) return { belongs: false, reason: `${sha} is not a commit SHA` }
  const found = await access.refs(url, ref.name, options)
  const head = ref.kind === 'branch' ? found.branch : found.tag
  if (!head) return { belongs: false, reason: `the repository has no ${ref.kind} named ${ref.name}` }
  if (head === sha) return { belongs: true, head }
  const notOn = { belongs: false as const, head, reason: `${sha} is not on ${ref.kind} ${ref.name}` }
  if (ref.kind === 'tag') return { ...notOn, reason: `tag ${ref.name} points at ${head}, not ${sha}` }
  const ancestor = await access.limited(() => isAncestor(url, ref.name, sha, options))
  return ancestor ? { belongs: true, head } : notOn
}

/** Fetches the branch's history into a throwaway bare repository and asks git. */
async function isAncestor(url: string, branch: string, sha: string, options: GitOptions): Promise<boolean> {
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-refcheck-'))
  try {
    const run = (args: string[]) => git(args, { ...options, cwd: dir })
    await run(['init', '--bare', '--quiet'])
    await run(['remote', 'add', '--', 'origin', url])
    // Commits only (no trees or blobs) where the server allows filters; all of it where not.
    await run([
      'fetch',
      '--quiet',
      '--no-tags',
      '--filter=tree:0',
      'origin',
      `+refs/heads/${branch}:refs/slipway/head`,
    ])
    // 0: the commit is an ancestor; 1: it is not; 128: the branch's history does not have it.
    const answer = await gitAnswer(['merge-base', '--is-ancestor', sha, 'refs/slipway/head'], [1, 128], {
      ...options,
      cwd: dir,
    })
    return answer === 0
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * The commit a pipeline of `ref` builds: the ref's head, or `sha` when it is given and belongs
 * to the ref (see `commitOnRef`): a SHA from elsewhere is refused, never built under the
 * ref's name.
 */
export async function commitForRef(
  url: string,
  ref: string,
  sha: string | undefined,
  options: GitOptions = {},
): Promise<string> {
  const resolved = await resolveRef(url, ref, options)
  if (sha === undefined || sha === resolved.sha) return resolved.sha
  const membership = await commitOnRef(url, { kind: resolved.kind, name: ref }, sha, options)
  if (membership.belongs) return sha
  throw new AppError('VALIDATION_FAILED', `${sha} does not belong to ${resolved.kind} ${ref}`, {
    details: { fields: [{ path: 'body.sha', message: membership.reason }] },
  })
}
