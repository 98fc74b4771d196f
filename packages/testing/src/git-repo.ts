import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * A small real git repository for a test (bare, served over file://): `main` with
 * `commits` commits, a `feature` branch one commit off main's first commit, an annotated tag
 * `v1.0.0` and a lightweight tag `v0.9.0` on main's head. SHAs are listed oldest first.
 */
export interface TestRepo {
  url: string
  main: string[]
  feature: string
  /** The annotated tag: its tag object and the commit it points at. */
  annotated: { name: string; object: string; commit: string }
  lightweight: { name: string; commit: string }
  /** Adds a commit on main (or another branch, created from main's head) and returns it. */
  commit(branch?: string): Promise<string>
  remove(): Promise<void>
}

export async function makeTestRepo(options: { commits?: number } = {}): Promise<TestRepo> {
  const root = await mkdtemp(path.join(tmpdir(), 'slipway-repo-'))
  const work = path.join(root, 'work')
  const bare = path.join(root, 'repo.git')
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
  }
  const git = async (...args: string[]) => (await run('git', args, { cwd: work, env })).stdout.trim()
  await run('git', ['init', '--quiet', '--initial-branch=main', work])
  let counter = 0
  const addCommit = async () => {
    counter++
    await writeFile(path.join(work, 'VERSION'), `${counter}\n`)
    await git('add', 'VERSION')
    await git('commit', '--quiet', '-m', `change ${counter}`)
    return git('rev-parse', 'HEAD')
  }
  const main: string[] = []
  for (let i = 0; i < (options.commits ?? 2); i++) main.push(await addCommit())
  await git('checkout', '--quiet', '-b', 'feature', main[0] as string)
  const feature = await addCommit()
  await git('checkout', '--quiet', 'main')
  await git('tag', '-a', 'v1.0.0', '-m', 'release 1.0.0')
  await git('tag', 'v0.9.0')
  await run('git', ['clone', '--quiet', '--bare', work, bare])
  const head = main.at(-1) as string
  return {
    url: `file://${bare}`,
    main,
    feature,
    annotated: { name: 'v1.0.0', object: await git('rev-parse', 'v1.0.0'), commit: head },
    lightweight: { name: 'v0.9.0', commit: head },
    async commit(branch = 'main') {
      if (branch !== 'main') await git('checkout', '--quiet', '-B', branch, 'main')
      const sha = await addCommit()
      await git('push', '--quiet', '--force', bare, `HEAD:refs/heads/${branch}`)
      await git('checkout', '--quiet', 'main')
      return sha
    },
    remove: () => rm(root, { recursive: true, force: true }),
  }
}

/**
 * A bare repository served over git's "dumb" HTTP protocol behind basic auth: a remote
 * reached only with credentials in its URL. Refresh `git update-server-info` after a push.
 */
export async function servePrivateRepo(repo: string, user: string, password: string) {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
  let authorized = 0
  const server = createServer(async (request: IncomingMessage, response) => {
    if (request.headers.authorization !== expected) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end()
      return
    }
    authorized++
    const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)
    const file = path.join(repo, path.normalize(pathname.replace(/^\/repo\.git/, '')))
    if (!file.startsWith(repo)) return response.writeHead(403).end()
    const content = await readFile(file).catch((error: NodeJS.ErrnoException) => {
      // A file the repository does not have (git asks for objects it may find in packs).
      if (error.code === 'ENOENT' || error.code === 'EISDIR') return undefined
      throw error
    })
    if (content) response.writeHead(200).end(content)
    else response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const close = async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  await run('git', ['-C', repo, 'update-server-info'])
  return {
    url: `http://${user}:${password}@127.0.0.1:${port}/repo.git`,
    refresh: () => run('git', ['-C', repo, 'update-server-info']),
    authorized: () => authorized,
    close,
  }
}
