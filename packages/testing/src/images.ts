import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { promisify } from 'node:util'
import type Docker from 'dockerode'
import { dockerClient, fleet } from './fleet.ts'

const run = promisify(execFile)

export interface DemoImage {
  /** registry/repo@sha256:... */
  image: string
  digest: string
  /** The VERSION the image serves at `/`. */
  version: string
}

export interface DemoImageOptions {
  /** Git ref of the demo repository to build (default main). */
  ref?: string
  /** Overrides the VERSION file (e.g. "3.0.0"). */
  version?: string
  /** Changes the checkout before building (e.g. make it never healthy). */
  patch?: (dir: string) => Promise<void>
  /** Repository path inside the registry (default test/demo). */
  repository?: string
  /** Build host (default build-1). */
  host?: string
}

const cache = new Map<string, Promise<DemoImage>>()

/**
 * Builds the demo application from its git repository on a build host, pushes it to the
 * fleet's registry and returns it by digest. Cached per process for the same options
 * without a patch.
 */
export function demoImage(options: DemoImageOptions = {}): Promise<DemoImage> {
  const key = options.patch ? undefined : JSON.stringify(options)
  if (key) {
    const hit = cache.get(key)
    if (hit) return hit
  }
  const built = buildDemoImage(options)
  if (key) {
    cache.set(key, built)
    built.catch(() => cache.delete(key))
  }
  return built
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(path.join(dir, prefix), { withFileTypes: true })
  const files: string[] = []
  for (const entry of entries) {
    const relative = path.join(prefix, entry.name)
    if (entry.name === '.git') continue
    if (entry.isDirectory()) files.push(...(await listFiles(dir, relative)))
    else files.push(relative)
  }
  return files
}

function follow(docker: Docker, stream: Readable): Promise<{ aux?: { Digest?: string } }[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, output: { error?: string; aux?: { Digest?: string } }[]) => {
        if (error) return reject(error)
        const failed = output.find((message) => message.error)
        if (failed) return reject(new Error(failed.error))
        resolve(output)
      },
    )
  })
}

async function buildDemoImage(options: DemoImageOptions): Promise<DemoImage> {
  const { registry, demoRepoUrl } = fleet()
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-demo-image-'))
  try {
    await run('git', ['clone', '--quiet', '--', demoRepoUrl, dir])
    await run('git', ['-C', dir, 'checkout', '--quiet', options.ref ?? 'main', '--'])
    if (options.version) {
      await writeFile(path.join(dir, 'VERSION'), `${options.version}\n`)
    }
    await options.patch?.(dir)
    const version = (await readFile(path.join(dir, 'VERSION'), 'utf8')).trim()
    const docker = dockerClient(options.host ?? 'build-1')
    const repository = `${registry.url}/${options.repository ?? 'test/demo'}`
    const tag = `v${version.replaceAll(/[^A-Za-z0-9_.-]/g, '-')}-${Date.now().toString(36)}`
    const build = await docker.buildImage(
      { context: dir, src: await listFiles(dir) },
      { t: `${repository}:${tag}` },
    )
    await follow(docker, build as unknown as Readable)
    const pushed = await follow(
      docker,
      (await docker.getImage(repository).push({
        tag,
        authconfig: { username: registry.username, password: registry.password, serveraddress: registry.url },
      })) as unknown as Readable,
    )
    const digest = pushed.map((message) => message.aux?.Digest).find(Boolean)
    if (!digest) throw new Error(`push of ${repository}:${tag} reported no digest`)
    return { image: `${repository}@${digest}`, digest, version }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
