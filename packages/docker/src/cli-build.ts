import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { AppError, errorMessage } from '@slipway/core'
import type { BuildOptions, BuildResult, HostEndpoint } from './types.ts'

/**
 * The docker CLI that builds: Debian's docker.io (20.10, BuildKit built in, no buildx
 * needed), matching the fleet's daemons. Another CLI on the PATH (e.g. a 28.x without
 * buildx) would fall back to the legacy builder, which has no secret mounts.
 */
export const defaultDockerCli = '/usr/bin/docker'

/** The docker CLI a host builds with, and the app's environment it may take from. */
export interface DockerCli {
  path: string
  /**
   * The app's environment (handed over by the app, never read here): only PATH, HOME and
   * SSH_AUTH_SOCK are taken (an ssh:// endpoint runs ssh, which needs the user's keys or agent).
   */
  env?: Readonly<Record<string, string | undefined>>
}

/** Lines of output kept to explain a failed build. */
const tailLines = 30

/** What the CLI prints when it cannot reach the daemon at all (the host is down, not the build). */
const unreachablePattern =
  /Cannot connect to the Docker daemon|error during connect|connection refused|no route to host|network is unreachable|i\/o timeout|no such host|connection reset by peer/i

/**
 * `-H` and TLS flags for the docker CLI to reach `endpoint` as dockerode does (see
 * dockerOptionsFor); the TLS material is written by the caller into `files`.
 */
export function cliEndpointArgs(
  endpoint: HostEndpoint,
  files: { ca: string; cert: string; key: string },
): string[] {
  const url = new URL(endpoint.endpoint)
  switch (url.protocol) {
    case 'unix:':
      return ['-H', `unix://${decodeURIComponent(url.pathname)}`]
    case 'ssh:':
      return ['-H', endpoint.endpoint]
    case 'tcp:':
    case 'https:':
    case 'http:': {
      const tls = endpoint.tls
      const secure = Boolean(tls?.cert || tls?.ca || url.protocol === 'https:')
      const port = url.port || (secure ? '2376' : '2375')
      const args = ['-H', `tcp://${url.hostname}:${port}`]
      if (!secure) return args
      // Verified always; without a CA of its own the system's roots are used (an empty
      // --tlscacert), never an unverified connection.
      args.push('--tlsverify', `--tlscacert=${tls?.ca ? files.ca : ''}`)
      if (tls?.cert) args.push(`--tlscert=${files.cert}`)
      if (tls?.key) args.push(`--tlskey=${files.key}`)
      return args
    }
    default:
      throw new AppError('VALIDATION_FAILED', `unsupported Docker endpoint ${url.protocol}//`, {
        details: { field: 'endpoint' },
      })
  }
}

/** The `docker build` arguments (after the global flags); secrets are named, never given. */
export function cliBuildArgs(
  options: Pick<BuildOptions, 'tags' | 'buildArgs' | 'labels'> & {
    dockerfile: string
    contextDir: string
    iidFile: string
    /** Secret id -> file holding its value. */
    secretFiles: Record<string, string>
  },
): string[] {
  const args = ['build', '--progress=plain', `--iidfile=${options.iidFile}`]
  args.push(`--file=${path.join(options.contextDir, options.dockerfile)}`)
  for (const tag of options.tags) args.push(`--tag=${tag}`)
  for (const [key, value] of Object.entries(options.labels ?? {})) args.push(`--label=${key}=${value}`)
  for (const [key, value] of Object.entries(options.buildArgs ?? {})) args.push(`--build-arg=${key}=${value}`)
  for (const [id, file] of Object.entries(options.secretFiles)) args.push(`--secret=id=${id},src=${file}`)
  args.push('--', options.contextDir)
  return args
}

/** The message of a failed build: BuildKit ends its output with the error. */
export function buildFailure(tail: readonly string[]): string {
  const last = [...tail].reverse().find((line) => line.trim() && !/^-+$/.test(line.trim()))
  return last?.trim() ?? 'docker build failed without saying why'
}

/**
 * Builds with BuildKit through the docker CLI against the host's daemon: the only way
 * (short of speaking BuildKit's session protocol) to give a build secrets as
 * `RUN --mount=type=secret`, which never become part of the image. Secret values and the
 * host's TLS key are written to files (0600) in a private folder (0700) that is removed
 * afterwards; nothing secret is on the command line. The child runs without a shell, with
 * a minimal environment (no DOCKER_HOST or config of the worker's user leaks in); `signal`
 * kills it, which cancels the build on the daemon. Its output (stdout and stderr) goes to
 * `onLog` line by line.
 */
export async function cliBuild(
  hostName: string,
  endpoint: HostEndpoint,
  cli: DockerCli,
  options: BuildOptions,
  signal: AbortSignal,
): Promise<BuildResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-build-'))
  try {
    const files = {
      ca: path.join(dir, 'ca.pem'),
      cert: path.join(dir, 'cert.pem'),
      key: path.join(dir, 'key.pem'),
    }
    const tls = endpoint.tls
    if (tls?.ca) await writeFile(files.ca, tls.ca, { mode: 0o600 })
    if (tls?.cert) await writeFile(files.cert, tls.cert, { mode: 0o600 })
    if (tls?.key) await writeFile(files.key, tls.key, { mode: 0o600 })
    await mkdir(path.join(dir, 'secrets'), { mode: 0o700 })
    await mkdir(path.join(dir, 'config'), { mode: 0o700 })
    const secretFiles: Record<string, string> = {}
    let index = 0
    for (const [id, value] of Object.entries(options.secrets ?? {})) {
      const file = path.join(dir, 'secrets', String(index++))
      await writeFile(file, value, { mode: 0o600 })
      secretFiles[id] = file
    }
    const iidFile = path.join(dir, 'iid')
    const args = [
      ...cliEndpointArgs(endpoint, files),
      ...cliBuildArgs({
        tags: options.tags,
        buildArgs: options.buildArgs,
        labels: options.labels,
        dockerfile: options.dockerfile ?? 'Dockerfile',
        contextDir: options.contextDir,
        iidFile,
        secretFiles,
      }),
    ]
    const tail = await runCli(cli, args, dir, signal, options.onLog)
    if (tail.code !== 0) {
      const reason = buildFailure(tail.lines)
      if (unreachablePattern.test(reason) && !tail.lines.some((line) => /^#\d+ /.test(line)))
        throw new AppError('HOST_UNREACHABLE', `Docker host ${hostName} is unreachable: ${reason}`)
      throw new AppError('BUILD_FAILED', `docker build failed on ${hostName}: ${reason}`)
    }
    const imageId = (await readFile(iidFile, 'utf8')).trim()
    if (!/^sha256:[a-f0-9]{64}$/.test(imageId))
      throw new AppError('BUILD_FAILED', `docker build on ${hostName} produced no image id`)
    return { imageId }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Runs the CLI; resolves with its exit code and last lines, after streaming every line. */
function runCli(
  cli: DockerCli,
  args: string[],
  home: string,
  signal: AbortSignal,
  onLog: ((line: string) => void) | undefined,
): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const from = cli.env ?? {}
    const child = spawn(cli.path, args, {
      shell: false,
      signal,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: from.PATH ?? '/usr/bin:/bin',
        HOME: from.HOME ?? home,
        ...(from.SSH_AUTH_SOCK ? { SSH_AUTH_SOCK: from.SSH_AUTH_SOCK } : {}),
        // No config, context or credential helper of the worker's user: only what is given here.
        DOCKER_CONFIG: path.join(home, 'config'),
        DOCKER_BUILDKIT: '1',
      },
    })
    const lines: string[] = []
    const take = (line: string) => {
      lines.push(line)
      if (lines.length > tailLines) lines.shift()
      onLog?.(line)
    }
    const split = lineSplitter(take)
    child.stdout.on('data', split.stdout)
    child.stderr.on('data', split.stderr)
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT')
        reject(
          new AppError(
            'INTERNAL',
            `the docker CLI ${cli.path} is not installed on this worker (package docker.io)`,
          ),
        )
      else reject(error)
    })
    child.on('close', (code) => {
      split.end()
      if (signal.aborted)
        reject(signal.reason instanceof Error ? signal.reason : new Error(errorMessage(signal.reason)))
      else resolve({ code, lines })
    })
  })
}

/** Splits two byte streams into lines (a partial line waits for the rest). */
function lineSplitter(take: (line: string) => void) {
  const pending = { stdout: '', stderr: '' }
  const feed = (which: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const parts = (pending[which] + chunk.toString('utf8')).split('\n')
    pending[which] = parts.pop() ?? ''
    for (const part of parts) take(part.replace(/\r$/, ''))
  }
  return {
    stdout: feed('stdout'),
    stderr: feed('stderr'),
    end() {
      for (const which of ['stdout', 'stderr'] as const) if (pending[which]) take(pending[which])
    },
  }
}
