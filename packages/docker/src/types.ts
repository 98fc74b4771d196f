/**
 * What Slipway needs from one Docker host. `DockerodeHost` implements it over a real
 * daemon; the deploy target for Swarm implements the service-level equivalent elsewhere.
 * Every call takes an AbortSignal: nothing waits on a daemon forever.
 */
export interface RegistryAuth {
  /** host[:port] of the registry, as in image references. */
  serveraddress: string
  username: string
  password: string
}

export interface CallOptions {
  signal?: AbortSignal
}

export interface BuildOptions extends CallOptions {
  /** Folder holding the build context; `.dockerignore` inside it is honoured. */
  contextDir: string
  /** Dockerfile path relative to the context (default "Dockerfile"). */
  dockerfile?: string
  /** Full references to tag the result with, e.g. registry.example.com:5000/demo:abc123. */
  tags: string[]
  /** Build arguments: not secret (Docker keeps their values in the image's history). */
  buildArgs?: Record<string, string>
  /**
   * Secrets by id, given to `RUN --mount=type=secret,id=<id>` steps (at /run/secrets/<id>);
   * never part of the image, its history or its layers.
   */
  secrets?: Record<string, string>
  labels?: Record<string, string>
  /** Receives Docker's build output line by line. */
  onLog?: (line: string) => void
}

export interface BuildResult {
  imageId: string
}

export interface ImageInfo {
  /** sha256:... (the digest of the image's config). */
  id: string
  /** registry/repo@sha256:... of every manifest this image was pushed or pulled as. */
  repoDigests: string[]
}

export interface PushResult {
  /** sha256:... of the manifest the registry stored. */
  digest: string
}

export interface ProgressOptions extends CallOptions {
  onLog?: (line: string) => void
}

export type RestartPolicy = 'no' | 'on-failure' | 'unless-stopped' | 'always'

/**
 * `bridge`: the container has its own network namespace and its port is published on the
 * host's address, on a port Docker chooses. `host`: it shares the host's network and must
 * listen on the port it is given in PORT (no namespace, no docker-proxy: cheaper to start,
 * no port isolation; the caller allocates the port).
 */
export type NetworkMode = 'bridge' | 'host'

/** The label that keeps a host-network container's port (Docker has no binding to report). */
export const hostPortLabel = 'slipway.host-port'

export interface RunOptions extends CallOptions {
  name: string
  image: string
  env?: Record<string, string>
  labels?: Record<string, string>
  /** The port the application listens on inside the container. */
  containerPort: number
  /**
   * Host network: the port the app listens on (required; the caller allocated it on the host).
   * Bridge network: leave it out and Docker chooses a free port of the host's address.
   */
  hostPort?: number
  /** Default `bridge`. On `host`, the container gets PORT=<hostPort> and `containerPort` is unused. */
  network?: NetworkMode
  restartPolicy?: RestartPolicy
  /** Seconds `docker stop` waits between SIGTERM and SIGKILL. */
  stopGraceSeconds?: number
  memoryBytes?: number
  nanoCpus?: number
  /** Run an init process as PID 1 (forwards signals, reaps zombies). Default true. */
  init?: boolean
  command?: string[]
}

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead'

export interface ContainerInfo {
  id: string
  name: string
  image: string
  state: ContainerState
  labels: Record<string, string>
  /**
   * The port on the host's address: the one Docker published the container port on (bridge:
   * running containers only, Docker chooses it at each start) or the one the container was
   * given (host network: from its label, running or not). From inspect and list.
   */
  hostPort?: number
  exitCode?: number
  startedAt?: Date
  /** The image's own HEALTHCHECK, when it has one (from inspect). */
  health?: { status: 'starting' | 'healthy' | 'unhealthy'; failingStreak: number; lastOutput?: string }
}

export interface DockerHost {
  readonly name: string
  ping(options?: CallOptions): Promise<void>
  /** The daemon's version (e.g. 20.10.24) and API version (e.g. 1.41). */
  version(options?: CallOptions): Promise<{ version: string; apiVersion: string }>
  build(options: BuildOptions): Promise<BuildResult>
  push(reference: string, auth: RegistryAuth | undefined, options?: ProgressOptions): Promise<PushResult>
  pull(reference: string, auth: RegistryAuth | undefined, options?: ProgressOptions): Promise<void>
  hasImage(reference: string, options?: CallOptions): Promise<boolean>
  /** An image's id and the registry digests it was pushed or pulled as; undefined: not there. */
  inspectImage(reference: string, options?: CallOptions): Promise<ImageInfo | undefined>
  /** Tags `source` (an image id or reference) as `target` (registry/repo:tag), moving the tag if it existed. */
  tagImage(source: string, target: string, options?: CallOptions): Promise<void>
  removeImage(reference: string, options?: CallOptions): Promise<void>
  run(options: RunOptions): Promise<ContainerInfo>
  /** SIGTERM, then SIGKILL after `graceSeconds`. Stopping a stopped container is fine. */
  stop(id: string, graceSeconds: number, options?: CallOptions): Promise<void>
  /** Removing a missing container is fine. */
  remove(id: string, options?: CallOptions): Promise<void>
  inspect(id: string, options?: CallOptions): Promise<ContainerInfo | undefined>
  list(labels: Record<string, string>, options?: CallOptions & { all?: boolean }): Promise<ContainerInfo[]>
  logs(id: string, options?: CallOptions & { tail?: number }): Promise<string[]>
  /**
   * Makes the daemon itself contact the registry of `reference` with `auth`: resolves when it
   * answered and took the credentials; REGISTRY_AUTH_FAILED or REGISTRY_UNREACHABLE otherwise.
   */
  reachRegistry(reference: string, auth: RegistryAuth | undefined, options?: CallOptions): Promise<void>
}

/** How to reach a Docker daemon, and where its containers are reached. */
export interface HostEndpoint {
  /** unix:///path/docker.sock, tcp://host:port or ssh://user@host[:port] */
  endpoint: string
  tls?: { ca?: string; cert?: string; key?: string }
  /**
   * The address the host's containers are reached at (an IP literal): bridge containers are
   * published on it, host-network ones listen on it. `run` needs it; the other calls do not.
   */
  address?: string
}
