import { createHash } from 'node:crypto'
import { AppError, errorMessage } from '@slipway/core'
import Docker from 'dockerode'
import { canonicalIp, demultiplex, dockerOptionsFor } from './dockerode-host.ts'
import type { CallOptions, HostEndpoint, RegistryAuth } from './types.ts'

/** A node of the swarm, as the manager reports it. */
export interface SwarmNode {
  id: string
  hostname: string
  /** The node's address (its advertise address): host-mode ports of its tasks are published there. */
  address: string
  /** ready | down | unknown | disconnected */
  state: string
  /** active | pause | drain */
  availability: string
  manager: boolean
}

/** A task of a service: one replica's container, wherever Swarm placed it. */
export interface SwarmTask {
  id: string
  nodeId: string | undefined
  slot: number | undefined
  /** What the orchestrator wants: running | shutdown | ... */
  desiredState: string
  /** Where it is: new | pending | assigned | preparing | starting | running | complete | failed | shutdown | rejected | orphaned | remove */
  state: string
  message: string
  error: string | undefined
  containerId: string | undefined
  /** The host-mode published port of the task's first port, once running. */
  publishedPort: number | undefined
  /** The task's container labels (its spec's). */
  labels: Record<string, string>
  image: string
  updatedAt: string
}

/** The parts of a service Slipway reads back. */
export interface SwarmService {
  id: string
  version: number
  labels: Record<string, string>
  /** The task template's container labels. */
  taskLabels: Record<string, string>
  image: string
  replicas: number
  /** updating | paused | completed | rollback_started | rollback_paused | rollback_completed */
  updateState: string | undefined
  updateMessage: string | undefined
  updateStartedAt: string | undefined
  /** Secrets the spec and the previous spec (what Swarm rolls back to) mount. */
  secretIds: string[]
}

/** `update_config` / `rollback_config` of a service (durations in ms). */
export interface SwarmUpdatePolicy {
  parallelism: number
  delayMs: number
  monitorMs: number
  order: 'start-first' | 'stop-first'
  failureAction: 'rollback' | 'pause' | 'continue'
  maxFailureRatio: number
}

/** The health check Swarm runs in each task (Docker's HEALTHCHECK). */
export interface SwarmHealthCheck {
  /** CMD-SHELL command run inside the container. */
  shell: string
  intervalMs: number
  timeoutMs: number
  retries: number
  startPeriodMs: number
}

export interface SwarmServiceSpec {
  name: string
  image: string
  labels: Record<string, string>
  /** The tasks' container labels (part of the task spec: changing them replaces the tasks). */
  taskLabels: Record<string, string>
  env: Record<string, string>
  /** Swarm secrets (ids from ensureSecret) mounted as /run/secrets/<fileName>. */
  secrets: { id: string; name: string; fileName: string }[]
  replicas: number
  containerPort: number
  healthCheck?: SwarmHealthCheck
  stopGraceSeconds: number
  memoryBytes?: number
  nanoCpus?: number
  update: SwarmUpdatePolicy
  rollback: SwarmUpdatePolicy
  /** Bumped to replace every task though nothing else changed (a redeploy). */
  forceUpdate?: number
}

const quickMs = 15_000

/**
 * A Swarm manager's Engine API (services, tasks, nodes, secrets) through dockerode's modem:
 * every call under an AbortSignal, failures named after the manager.
 */
export class DockerodeSwarm {
  readonly name: string
  private readonly docker: Docker

  constructor(name: string, endpoint: HostEndpoint) {
    this.name = name
    this.docker = new Docker(dockerOptionsFor(endpoint))
  }

  /** Resolves when the daemon is an active manager of a swarm; PRECONDITION_FAILED otherwise. */
  async assertManager(options: CallOptions = {}): Promise<void> {
    const info = await this.dial<{ Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } }>(
      'info',
      { path: '/info', method: 'GET' },
      options,
    )
    if (info.Swarm?.LocalNodeState !== 'active' || !info.Swarm.ControlAvailable)
      throw new AppError(
        'PRECONDITION_FAILED',
        `Docker host ${this.name} is not a Swarm manager (swarm state: ${info.Swarm?.LocalNodeState ?? 'none'})`,
        { details: { host: this.name } },
      )
  }

  async nodes(options: CallOptions = {}): Promise<SwarmNode[]> {
    const rows = await this.dial<RawNode[]>('list nodes', { path: '/nodes', method: 'GET' }, options)
    return rows.map((row) => {
      // A manager may report 0.0.0.0 as its node address; its manager address is the real one.
      const reported = row.Status?.Addr ?? ''
      const asManager = row.ManagerStatus?.Addr?.replace(/:\d+$/, '')
      return {
        id: row.ID,
        hostname: row.Description?.Hostname ?? row.ID.slice(0, 12),
        address: canonicalIp(reported === '0.0.0.0' && asManager ? asManager : reported),
        state: row.Status?.State ?? 'unknown',
        availability: row.Spec?.Availability ?? 'active',
        manager: row.Spec?.Role === 'manager',
      }
    })
  }

  async service(name: string, options: CallOptions = {}): Promise<SwarmService | undefined> {
    try {
      const raw = await this.dial<RawService>(
        'inspect service',
        { path: `/services/${encodeURIComponent(name)}`, method: 'GET' },
        options,
      )
      return serviceOf(raw)
    } catch (error) {
      if (statusIn(error) === 404) return undefined
      throw error
    }
  }

  /** Creates the service, or updates it to `spec` (a rolling update by its update policy). */
  async upsertService(
    spec: SwarmServiceSpec,
    auth: RegistryAuth | undefined,
    options: CallOptions = {},
  ): Promise<{ created: boolean; warnings: string[] }> {
    const body = rawSpec(spec)
    const current = await this.service(spec.name, options)
    if (!current) {
      const created = await this.dial<{ Warnings?: string[] | null }>(
        'create service',
        {
          path: '/services/create',
          method: 'POST',
          options: body,
          authconfig: auth,
          statusCodes: { 201: true },
        },
        options,
      )
      return { created: true, warnings: created.Warnings ?? [] }
    }
    const updated = await this.dial<{ Warnings?: string[] | null }>(
      'update service',
      {
        path: `/services/${current.id}/update?`,
        method: 'POST',
        options: { _query: { version: current.version, registryAuthFrom: 'spec' }, _body: body },
        authconfig: auth,
      },
      options,
    )
    return { created: false, warnings: updated.Warnings ?? [] }
  }

  async removeService(name: string, options: CallOptions = {}): Promise<void> {
    try {
      await this.dial(
        'remove service',
        { path: `/services/${encodeURIComponent(name)}`, method: 'DELETE' },
        options,
      )
    } catch (error) {
      if (!(statusIn(error) === 404)) throw error
    }
  }

  async tasks(serviceName: string, options: CallOptions = {}): Promise<SwarmTask[]> {
    const filters = JSON.stringify({ service: [serviceName] })
    const rows = await this.dial<RawTask[]>(
      'list tasks',
      { path: '/tasks?', method: 'GET', options: { filters } },
      options,
    )
    return rows.map(taskOf)
  }

  /**
   * A secret holding `value`, named `<prefix>-<hash of the value>`: created once, found again
   * by name (Swarm secrets cannot be changed; a new value is a new secret).
   */
  async ensureSecret(
    prefix: string,
    value: string,
    labels: Record<string, string>,
    options: CallOptions = {},
  ): Promise<{ id: string; name: string }> {
    const name = `${prefix}-${createHash('sha256').update(value).digest('hex').slice(0, 16)}`
    const found = await this.secrets({ name: [name] }, options)
    const existing = found.find((secret) => secret.name === name)
    if (existing) return existing
    try {
      const created = await this.dial<{ ID: string }>(
        'create secret',
        {
          path: '/secrets/create',
          method: 'POST',
          options: { Name: name, Labels: labels, Data: Buffer.from(value).toString('base64') },
          statusCodes: { 201: true },
        },
        options,
      )
      return { id: created.ID, name }
    } catch (error) {
      // Another deploy made it first (409): read it back.
      if (statusIn(error) === 409) {
        const again = (await this.secrets({ name: [name] }, options)).find((secret) => secret.name === name)
        if (again) return again
      }
      throw error
    }
  }

  async secrets(
    filters: Record<string, string[]>,
    options: CallOptions = {},
  ): Promise<{ id: string; name: string; labels: Record<string, string> }[]> {
    const rows = await this.dial<{ ID: string; Spec: { Name: string; Labels?: Record<string, string> } }[]>(
      'list secrets',
      { path: '/secrets?', method: 'GET', options: { filters: JSON.stringify(filters) } },
      options,
    )
    return rows.map((row) => ({ id: row.ID, name: row.Spec.Name, labels: row.Spec.Labels ?? {} }))
  }

  /** Removing a secret a service still uses fails with Docker's reason (kept, not thrown). */
  async removeSecret(id: string, options: CallOptions = {}): Promise<string | undefined> {
    try {
      await this.dial('remove secret', { path: `/secrets/${id}`, method: 'DELETE' }, options)
      return undefined
    } catch (error) {
      if (statusIn(error) === 404) return undefined
      if (statusIn(error) === 400) return errorMessage(error)
      throw error
    }
  }

  /** A task's last log lines (Engine API /tasks/{id}/logs). */
  async taskLogs(taskId: string, options: CallOptions & { tail?: number } = {}): Promise<string[]> {
    const buffer = await this.dial<Buffer>(
      'task logs',
      {
        path: `/tasks/${encodeURIComponent(taskId)}/logs?`,
        method: 'GET',
        options: { stdout: true, stderr: true, tail: String(options.tail ?? 500) },
        isStream: false,
      },
      options,
    )
    return demultiplex(Buffer.isBuffer(buffer) ? buffer : Buffer.from(String(buffer)))
  }

  private async dial<T>(
    what: string,
    request: {
      path: string
      method: 'GET' | 'POST' | 'DELETE'
      options?: object
      authconfig?: RegistryAuth
      statusCodes?: Record<number, boolean | string>
      isStream?: boolean
    },
    options: CallOptions,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(quickMs)
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
    try {
      return await new Promise<T>((resolve, reject) =>
        this.docker.modem.dial(
          {
            ...request,
            statusCodes: {
              200: true,
              204: true,
              400: 'bad parameter',
              404: 'not found',
              409: 'conflict',
              500: 'server error',
              503: 'node is not part of a swarm',
              ...request.statusCodes,
            },
            abortSignal: signal,
          } as never,
          (error: unknown, data: unknown) => (error ? reject(error) : resolve(data as T)),
        ),
      )
    } catch (error) {
      if (signal.aborted) {
        const canceled =
          options.signal?.aborted &&
          !(options.signal.reason instanceof DOMException && options.signal.reason.name === 'TimeoutError')
        throw new AppError(
          canceled ? 'CANCELED' : 'TIMEOUT',
          `${what} on Swarm manager ${this.name} ${canceled ? 'was canceled' : 'timed out'}`,
          {
            cause: error,
          },
        )
      }
      const code = (error as NodeJS.ErrnoException)?.code
      if (code && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND)$/.test(code))
        throw new AppError('HOST_UNREACHABLE', `Swarm manager ${this.name} is unreachable (${code})`, {
          cause: error,
          details: { host: this.name },
        })
      const status = (error as { statusCode?: number })?.statusCode
      const message = (error as { json?: { message?: string } })?.json?.message ?? errorMessage(error)
      throw new AppError('CONTAINER_FAILED', `${what} on Swarm manager ${this.name} failed: ${message}`, {
        cause: error,
        details: { host: this.name, status },
      })
    }
  }
}

/** The HTTP status of a failed manager call (undefined: no answer). */
function statusIn(error: unknown): number | undefined {
  return error instanceof AppError ? (error.details as { status?: number } | undefined)?.status : undefined
}

interface RawNode {
  ID: string
  Description?: { Hostname?: string }
  Status?: { State?: string; Addr?: string }
  ManagerStatus?: { Addr?: string }
  Spec?: { Availability?: string; Role?: string }
}

interface RawServiceSpec {
  TaskTemplate?: { ContainerSpec?: { Secrets?: { SecretID: string }[] } }
}

interface RawService {
  ID: string
  Version: { Index: number }
  PreviousSpec?: RawServiceSpec
  Spec: RawServiceSpec & {
    Labels?: Record<string, string>
    TaskTemplate?: {
      ContainerSpec?: { Image?: string; Labels?: Record<string, string>; Secrets?: { SecretID: string }[] }
    }
    Mode?: { Replicated?: { Replicas?: number } }
  }
  UpdateStatus?: { State?: string; Message?: string; StartedAt?: string }
}

interface RawTask {
  ID: string
  NodeID?: string
  Slot?: number
  DesiredState: string
  UpdatedAt: string
  Spec?: { ContainerSpec?: { Image?: string; Labels?: Record<string, string> } }
  Status: {
    State: string
    Message?: string
    Err?: string
    ContainerStatus?: { ContainerID?: string }
    PortStatus?: { Ports?: { PublishedPort?: number }[] }
  }
}

function serviceOf(raw: RawService): SwarmService {
  return {
    id: raw.ID,
    version: raw.Version.Index,
    labels: raw.Spec.Labels ?? {},
    taskLabels: raw.Spec.TaskTemplate?.ContainerSpec?.Labels ?? {},
    image: raw.Spec.TaskTemplate?.ContainerSpec?.Image ?? '',
    replicas: raw.Spec.Mode?.Replicated?.Replicas ?? 0,
    updateState: raw.UpdateStatus?.State,
    updateMessage: raw.UpdateStatus?.Message,
    updateStartedAt: raw.UpdateStatus?.StartedAt,
    secretIds: [raw.Spec, raw.PreviousSpec].flatMap(
      (spec) => spec?.TaskTemplate?.ContainerSpec?.Secrets?.map((secret) => secret.SecretID) ?? [],
    ),
  }
}

function taskOf(raw: RawTask): SwarmTask {
  return {
    id: raw.ID,
    nodeId: raw.NodeID || undefined,
    slot: raw.Slot,
    desiredState: raw.DesiredState,
    state: raw.Status.State,
    message: raw.Status.Message ?? '',
    error: raw.Status.Err || undefined,
    containerId: raw.Status.ContainerStatus?.ContainerID || undefined,
    publishedPort: raw.Status.PortStatus?.Ports?.[0]?.PublishedPort,
    labels: raw.Spec?.ContainerSpec?.Labels ?? {},
    image: raw.Spec?.ContainerSpec?.Image ?? '',
    updatedAt: raw.UpdatedAt,
  }
}

const ms = (value: number) => Math.round(value * 1_000_000)

function policy(p: SwarmUpdatePolicy) {
  return {
    Parallelism: p.parallelism,
    Delay: ms(p.delayMs),
    FailureAction: p.failureAction,
    Monitor: ms(p.monitorMs),
    MaxFailureRatio: p.maxFailureRatio,
    Order: p.order,
  }
}

/** The Engine API's ServiceSpec for `spec`. */
function rawSpec(spec: SwarmServiceSpec) {
  const health = spec.healthCheck
  return {
    Name: spec.name,
    Labels: spec.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Labels: spec.taskLabels,
        Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
        Init: true,
        StopGracePeriod: ms(spec.stopGraceSeconds * 1000),
        Secrets: spec.secrets.map((secret) => ({
          SecretID: secret.id,
          SecretName: secret.name,
          File: { Name: secret.fileName, UID: '0', GID: '0', Mode: 0o444 },
        })),
        HealthCheck: health
          ? {
              Test: ['CMD-SHELL', health.shell],
              Interval: ms(health.intervalMs),
              Timeout: ms(health.timeoutMs),
              Retries: health.retries,
              StartPeriod: ms(health.startPeriodMs),
            }
          : undefined,
      },
      Resources: {
        Limits: { MemoryBytes: spec.memoryBytes, NanoCPUs: spec.nanoCpus },
      },
      RestartPolicy: { Condition: 'any', Delay: ms(1000), MaxAttempts: 0 },
      ForceUpdate: spec.forceUpdate ?? 0,
    },
    Mode: { Replicated: { Replicas: spec.replicas } },
    UpdateConfig: policy(spec.update),
    RollbackConfig: policy(spec.rollback),
    // Host mode, no published port: Docker picks a free port on each task's node (no routing
    // mesh needed; the Slipway gateway dials node address + port).
    EndpointSpec: {
      Mode: 'vip',
      Ports: [{ Protocol: 'tcp', TargetPort: spec.containerPort, PublishMode: 'host' }],
    },
  }
}
