import type { Readable } from 'node:stream'
import { AppError, errorMessage } from '@slipway/core'
import Docker from 'dockerode'
import { cliBuild, type DockerCli, defaultDockerCli } from './cli-build.ts'
import { readProgress, streamLines } from './progress.ts'
import { splitTag } from './refs.ts'
import {
  type BuildOptions,
  type BuildResult,
  type CallOptions,
  type ContainerInfo,
  type ContainerState,
  type DockerHost,
  type HostEndpoint,
  hostPortLabel,
  type ImageInfo,
  type ProgressOptions,
  type PushResult,
  type RegistryAuth,
  type RunOptions,
} from './types.ts'

export interface DockerodeHostOptions {
  dockerCli?: string
  cliEnv?: DockerCli['env']
}

/** Default limits for calls whose caller gave no signal of their own. */
export const defaultTimeouts = {
  quickMs: 15_000,
  buildMs: 30 * 60_000,
  transferMs: 10 * 60_000,
  /** Extra time over the grace period for `docker stop` to return. */
  stopSlackMs: 15_000,
}

const unreachableCodes = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
])

export function dockerOptionsFor(host: HostEndpoint): Docker.DockerOptions {
  const url = new URL(host.endpoint)
  switch (url.protocol) {
    case 'unix:':
      return { socketPath: decodeURIComponent(url.pathname) }
    case 'tcp:':
    case 'https:':
    case 'http:': {
      const tls = host.tls?.cert || host.tls?.ca || url.protocol === 'https:'
      return {
        host: unbracket(url.hostname),
        port: Number(url.port || (tls ? 2376 : 2375)),
        protocol: tls ? 'https' : 'http',
        ca: host.tls?.ca,
        cert: host.tls?.cert,
        key: host.tls?.key,
      }
    }
    case 'ssh:':
      return {
        protocol: 'ssh',
        host: unbracket(url.hostname),
        port: Number(url.port || 22),
        username: decodeURIComponent(url.username) || undefined,
      }
    default:
      throw new AppError('VALIDATION_FAILED', `unsupported Docker endpoint ${url.protocol}//`, {
        details: { field: 'endpoint' },
      })
  }
}

/** `[fd00::5]` (a URL's IPv6 host) -> `fd00::5`. */
function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
}

/** An IP literal as Docker reports it (IPv6 lower-case and shortened). */
export function canonicalIp(address: string): string {
  if (!address.includes(':')) return address
  try {
    return unbracket(new URL(`http://[${address}]/`).hostname)
  } catch (error) {
    // TypeError: not an IPv6 literal URL accepts; left as given.
    if (!(error instanceof TypeError)) throw error
    return address
  }
}

/** A real Docker daemon, driven through dockerode. */
export class DockerodeHost implements DockerHost {
  readonly name: string
  /** Where the host's containers are reached (canonical IP literal); undefined: not known. */
  readonly address: string | undefined
  private readonly docker: Docker
  private readonly endpoint: HostEndpoint
  private readonly dockerCli: DockerCli

  /**
   * `options.dockerCli`: the docker CLI that builds (default /usr/bin/docker, Debian's
   * docker.io); `options.cliEnv`: the app's environment it may take PATH, HOME and
   * SSH_AUTH_SOCK from.
   */
  constructor(name: string, endpoint: HostEndpoint, options: DockerodeHostOptions = {}) {
    this.name = name
    this.endpoint = endpoint
    this.dockerCli = { path: options.dockerCli ?? defaultDockerCli, env: options.cliEnv }
    this.address = endpoint.address ? canonicalIp(endpoint.address) : undefined
    this.docker = new Docker(dockerOptionsFor(endpoint))
  }

  async ping(options: CallOptions = {}): Promise<void> {
    await this.call('ping', options, defaultTimeouts.quickMs, (abortSignal) =>
      withOptions<unknown>(this.docker, this.docker.ping, { abortSignal }),
    )
  }

  async version(options: CallOptions = {}): Promise<{ version: string; apiVersion: string }> {
    return this.call('version', options, defaultTimeouts.quickMs, async (abortSignal) => {
      const data = await withOptions<Docker.DockerVersion>(this.docker, this.docker.version, { abortSignal })
      return { version: data.Version, apiVersion: data.ApiVersion }
    })
  }

  /**
   * Builds with BuildKit through the docker CLI (see cliBuild): build secrets are secret
   * mounts, never build arguments. The daemon's own output is the log.
   */
  async build(options: BuildOptions): Promise<BuildResult> {
    return this.call('build', options, defaultTimeouts.buildMs, (abortSignal) =>
      cliBuild(this.name, this.endpoint, this.dockerCli, options, abortSignal),
    )
  }

  async push(
    reference: string,
    auth: RegistryAuth | undefined,
    options: ProgressOptions = {},
  ): Promise<PushResult> {
    return this.call('push', options, defaultTimeouts.transferMs, async (abortSignal) => {
      const { name, tag } = splitTag(reference)
      const stream = await this.docker.getImage(name).push(withSignal({ tag, authconfig: auth }, abortSignal))
      let digest: string | undefined
      const failure = await readProgress(stream as Readable, (message) => {
        if (message.aux?.Digest) digest = message.aux.Digest
        if (message.status && !message.progress)
          options.onLog?.(message.id ? `${message.id}: ${message.status}` : message.status)
      })
      if (failure)
        throw registryError('PUSH_FAILED', `push of ${reference} from ${this.name} failed: ${failure}`)
      if (!digest) throw new AppError('PUSH_FAILED', `push of ${reference} reported no digest`)
      return { digest }
    })
  }

  async pull(
    reference: string,
    auth: RegistryAuth | undefined,
    options: ProgressOptions = {},
  ): Promise<void> {
    await this.call('pull', options, defaultTimeouts.transferMs, async (abortSignal) => {
      const stream = await this.docker.pull(reference, withSignal({ authconfig: auth }, abortSignal))
      const failure = await readProgress(stream as Readable, (message) => {
        if (message.status && !message.progress)
          options.onLog?.(message.id ? `${message.id}: ${message.status}` : message.status)
      })
      if (failure)
        throw registryError('PULL_FAILED', `pull of ${reference} on ${this.name} failed: ${failure}`)
    })
  }

  async inspectImage(reference: string, options: CallOptions = {}): Promise<ImageInfo | undefined> {
    return this.call('inspect image', options, defaultTimeouts.quickMs, async (abortSignal) => {
      try {
        const data = await this.docker.getImage(reference).inspect(withSignal({}, abortSignal))
        return { id: data.Id, repoDigests: data.RepoDigests ?? [] }
      } catch (error) {
        if (statusOf(error) === 404) return undefined
        throw error
      }
    })
  }

  async tagImage(source: string, target: string, options: CallOptions = {}): Promise<void> {
    await this.call('tag image', options, defaultTimeouts.quickMs, async (abortSignal) => {
      const { name, tag } = splitTag(target)
      await this.docker.getImage(source).tag(withSignal({ repo: name, tag }, abortSignal))
    })
  }

  async hasImage(reference: string, options: CallOptions = {}): Promise<boolean> {
    return this.call('inspect image', options, defaultTimeouts.quickMs, async (abortSignal) => {
      try {
        await this.docker.getImage(reference).inspect(withSignal({}, abortSignal))
        return true
      } catch (error) {
        if (statusOf(error) === 404) return false
        throw error
      }
    })
  }

  async removeImage(reference: string, options: CallOptions = {}): Promise<void> {
    await this.call('remove image', options, defaultTimeouts.quickMs, async (abortSignal) => {
      try {
        await this.docker.getImage(reference).remove({ abortSignal } as never)
      } catch (error) {
        if (statusOf(error) !== 404) throw error
      }
    })
  }

  /**
   * Creates and starts a container. Bridge network: the container port is published on the
   * host's address, on a host port Docker chooses (read back from inspect). Host network: the
   * app is given `hostPort` in PORT (the caller allocated it) and the port is kept in a label.
   */
  async run(options: RunOptions): Promise<ContainerInfo> {
    const address = this.address
    if (!address)
      throw new AppError(
        'PRECONDITION_FAILED',
        `Docker host ${this.name} has no address: containers cannot be published or reached; set the host's address`,
        { details: { host: this.name, field: 'address' } },
      )
    const onHost = options.network === 'host'
    const hostPort = options.hostPort
    if (onHost && hostPort === undefined)
      throw new AppError('INTERNAL', `run of ${options.name} on the host network without a port`)
    return this.call('run', options, defaultTimeouts.quickMs * 4, async (abortSignal) => {
      const portKey = `${options.containerPort}/tcp`
      // On the host network the app listens on the port it is given, whatever the release's PORT.
      const env = onHost ? { ...options.env, PORT: String(hostPort) } : (options.env ?? {})
      const container = await this.docker.createContainer({
        name: options.name,
        Image: options.image,
        Cmd: options.command,
        Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
        Labels: onHost ? { ...options.labels, [hostPortLabel]: String(hostPort) } : (options.labels ?? {}),
        ExposedPorts: onHost ? undefined : { [portKey]: {} },
        StopTimeout: options.stopGraceSeconds,
        HostConfig: {
          NetworkMode: onHost ? 'host' : undefined,
          // HostPort '': Docker picks a free port of the host (its own ephemeral range).
          PortBindings: onHost
            ? undefined
            : { [portKey]: [{ HostIp: address, HostPort: hostPort === undefined ? '' : String(hostPort) }] },
          RestartPolicy: { Name: options.restartPolicy ?? 'no' },
          Init: options.init ?? true,
          Memory: options.memoryBytes,
          NanoCpus: options.nanoCpus,
        },
        abortSignal,
      } as Docker.ContainerCreateOptions)
      try {
        await container.start({ abortSignal })
      } catch (error) {
        await container.remove({ force: true }).catch((removeError: unknown) => {
          throw new AppError(
            'CONTAINER_FAILED',
            `start of ${options.name} on ${this.name} failed (${dockerMessage(error)}) and its container could not be removed: ${dockerMessage(removeError)}`,
            { cause: error },
          )
        })
        throw error
      }
      const info = await this.inspect(container.id, { signal: abortSignal })
      if (!info) throw new AppError('CONTAINER_FAILED', `container ${options.name} vanished on ${this.name}`)
      return info
    })
  }

  async stop(id: string, graceSeconds: number, options: CallOptions = {}): Promise<void> {
    const limit = graceSeconds * 1000 + defaultTimeouts.stopSlackMs
    await this.call('stop', options, limit, async (abortSignal) => {
      try {
        await this.docker.getContainer(id).stop({ t: graceSeconds, abortSignal })
      } catch (error) {
        const status = statusOf(error)
        if (status !== 304 && status !== 404) throw error
      }
    })
  }

  async remove(id: string, options: CallOptions = {}): Promise<void> {
    await this.call('remove', options, defaultTimeouts.quickMs, async (abortSignal) => {
      try {
        await this.docker.getContainer(id).remove({ force: true, v: true, abortSignal })
      } catch (error) {
        if (statusOf(error) !== 404) throw error
      }
    })
  }

  async inspect(id: string, options: CallOptions = {}): Promise<ContainerInfo | undefined> {
    return this.call('inspect', options, defaultTimeouts.quickMs, async (abortSignal) => {
      try {
        const data = await this.docker.getContainer(id).inspect({ abortSignal })
        // Only a running container has bindings: Docker chose the port when it started it.
        const bindings = Object.values(data.NetworkSettings?.Ports ?? {}).flat() as ({
          HostIp?: string
          HostPort?: string
        } | null)[]
        const bound = bindings.find((binding) => binding?.HostPort && this.isOurs(binding.HostIp))
        const labels = data.Config.Labels ?? {}
        return {
          id: data.Id,
          name: data.Name.replace(/^\//, ''),
          image: data.Config.Image,
          state: data.State.Status as ContainerState,
          labels,
          hostPort: labelledPort(labels) ?? (bound?.HostPort ? Number(bound.HostPort) : undefined),
          exitCode: data.State.Running ? undefined : data.State.ExitCode,
          startedAt: data.State.StartedAt ? new Date(data.State.StartedAt) : undefined,
          health: healthOf(data.State.Health),
        }
      } catch (error) {
        if (statusOf(error) === 404) return undefined
        throw error
      }
    })
  }

  async list(
    labels: Record<string, string>,
    options: CallOptions & { all?: boolean } = {},
  ): Promise<ContainerInfo[]> {
    return this.call('list', options, defaultTimeouts.quickMs, async (abortSignal) => {
      const filters = { label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) }
      const rows = await this.docker.listContainers({ all: options.all ?? true, filters, abortSignal })
      return rows.map((row) => {
        const published = row.Ports.find((port) => port.PublicPort && this.isOurs(port.IP))
        return {
          id: row.Id,
          name: (row.Names[0] ?? '').replace(/^\//, ''),
          image: row.Image,
          state: row.State as ContainerState,
          labels: row.Labels ?? {},
          hostPort: labelledPort(row.Labels ?? {}) ?? published?.PublicPort,
        }
      })
    })
  }

  async logs(id: string, options: CallOptions & { tail?: number } = {}): Promise<string[]> {
    return this.call('logs', options, defaultTimeouts.quickMs, async (abortSignal) => {
      const buffer = (await this.docker.getContainer(id).logs({
        stdout: true,
        stderr: true,
        follow: false,
        tail: options.tail ?? 500,
        abortSignal,
      })) as unknown as Buffer
      return demultiplex(buffer)
    })
  }

  /**
   * Asks the daemon itself to reach the registry of `reference` (registry/repo:tag) with
   * `auth` (Engine API `GET /distribution/{name}/json`): the daemon contacts the registry as
   * it would for a pull. Resolves when the registry answered and accepted the credentials
   * (an image it does not have counts); REGISTRY_AUTH_FAILED when it refused them,
   * REGISTRY_UNREACHABLE when the daemon could not reach it, PULL_FAILED otherwise.
   */
  async reachRegistry(
    reference: string,
    auth: RegistryAuth | undefined,
    options: CallOptions = {},
  ): Promise<void> {
    await this.call('registry check', options, defaultTimeouts.quickMs, async (abortSignal) => {
      try {
        await new Promise((resolve, reject) =>
          this.docker.modem.dial(
            {
              path: `/distribution/${reference}/json`,
              method: 'GET',
              statusCodes: {
                200: true,
                401: 'unauthorized',
                403: 'denied',
                404: 'not found',
                500: 'server error',
              },
              authconfig: auth,
              abortSignal,
            } as never,
            (error: unknown, data: unknown) => (error ? reject(error) : resolve(data)),
          ),
        )
      } catch (error) {
        const status = statusOf(error)
        // The registry answered: it does not have the image, and it took the credentials.
        if (status === 404 && /manifest unknown|name unknown|not found/i.test(dockerMessage(error))) return
        if (status === undefined) throw error
        throw registryError(
          'PULL_FAILED',
          `${this.name} cannot use the registry of ${reference}: ${dockerMessage(error)}`,
        )
      }
    })
  }

  /** Whether a binding's host IP is this host's address. */
  private isOurs(hostIp: string | undefined): boolean {
    return hostIp !== undefined && this.address !== undefined && canonicalIp(hostIp) === this.address
  }

  /**
   * Runs one daemon call under a signal that combines the caller's and a default timeout,
   * and turns transport failures into Slipway errors naming this host.
   */
  private async call<T>(
    what: string,
    options: CallOptions,
    defaultLimitMs: number,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(defaultLimitMs)
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
    try {
      return await fn(signal)
    } catch (error) {
      throw this.translate(what, error, signal, options.signal)
    }
  }

  private translate(what: string, error: unknown, signal: AbortSignal, callerSignal?: AbortSignal): Error {
    if (error instanceof AppError) return error
    if (signal.aborted) {
      if (callerSignal?.aborted && !isTimeout(callerSignal.reason)) {
        return new AppError('CANCELED', `${what} on ${this.name} was canceled`, { cause: error })
      }
      return new AppError('TIMEOUT', `${what} on ${this.name} timed out`, { cause: error })
    }
    const code = (error as NodeJS.ErrnoException)?.code
    if (code && unreachableCodes.has(code)) {
      return new AppError('HOST_UNREACHABLE', `Docker host ${this.name} is unreachable (${code})`, {
        cause: error,
      })
    }
    const message = dockerMessage(error)
    if (what === 'run' || what === 'stop' || what === 'remove') {
      return new AppError('CONTAINER_FAILED', `${what} on ${this.name} failed: ${message}`, { cause: error })
    }
    if (what === 'pull') return registryError('PULL_FAILED', `pull on ${this.name} failed: ${message}`)
    if (what === 'push') return registryError('PUSH_FAILED', `push from ${this.name} failed: ${message}`)
    if (what === 'build')
      return new AppError('BUILD_FAILED', `build on ${this.name} failed: ${message}`, { cause: error })
    return new AppError('INTERNAL', `${what} on ${this.name} failed: ${message}`, { cause: error })
  }
}

/** dockerode accepts `abortSignal` on every call; its type definitions do not say so. */
function withSignal<T extends object>(options: T, abortSignal: AbortSignal): T {
  return { ...options, abortSignal }
}

/** Calls a dockerode method whose type definitions only declare the callback form. */
function withOptions<T>(self: Docker, method: (...args: never[]) => unknown, options: object): Promise<T> {
  return (method as unknown as (this: Docker, options: object) => Promise<T>).call(self, options)
}

/** A host-network container's port, from its label. */
function labelledPort(labels: Record<string, string>): number | undefined {
  const port = Number(labels[hostPortLabel])
  return Number.isInteger(port) && port > 0 ? port : undefined
}

function healthOf(
  health: Docker.ContainerInspectInfo['State']['Health'] | undefined,
): ContainerInfo['health'] {
  if (!health?.Status || health.Status === 'none') return undefined
  const last = health.Log?.at(-1)?.Output?.trim()
  return {
    status: health.Status as 'starting' | 'healthy' | 'unhealthy',
    failingStreak: health.FailingStreak ?? 0,
    lastOutput: last ? last.slice(0, 500) : undefined,
  }
}

function isTimeout(reason: unknown): boolean {
  return reason instanceof DOMException && reason.name === 'TimeoutError'
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number })?.statusCode
}

/** Docker's own message out of a dockerode error ("(HTTP code 404) no such container - ..."). */
function dockerMessage(error: unknown): string {
  const json = (error as { json?: { message?: string } })?.json
  return json?.message ?? errorMessage(error)
}

function registryError(code: 'PUSH_FAILED' | 'PULL_FAILED', message: string): AppError {
  if (/unauthorized|authentication required|no basic auth credentials|denied/i.test(message)) {
    return new AppError('REGISTRY_AUTH_FAILED', message)
  }
  if (
    /connection refused|no such host|i\/o timeout|dial tcp|no route to host|network is unreachable/i.test(
      message,
    )
  ) {
    return new AppError('REGISTRY_UNREACHABLE', message)
  }
  return new AppError(code, message)
}

/** Docker's log stream for non-TTY containers: 8-byte frame headers, then the payload. */
export function demultiplex(buffer: Buffer): string[] {
  const chunks: string[] = []
  let offset = 0
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4)
    chunks.push(buffer.subarray(offset + 8, offset + 8 + size).toString('utf8'))
    offset += 8 + size
  }
  return streamLines(chunks.join(''))
}
