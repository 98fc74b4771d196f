import type { AppSpec, DeployStrategy, Instance } from '@slipway/contracts'
import type { DockerodeSwarm, RegistryAuth } from '@slipway/docker'
import { type CanaryHooks, canaryDeploy } from './canary.ts'
import { discoverSite } from './discover.ts'
import { type ReconcileResult, reconcile } from './reconcile.ts'
import { rollout } from './rollout.ts'
import { instancesOf, serviceName, swarmDeploy, syncGateway } from './swarm/deploy.ts'
import type { DeployHost, HostPorts, RegisteredInstances, RolloutResult, TrafficSwitch } from './types.ts'

/** What every deploy asks of a target, whatever runs the instances. */
export interface TargetDeployRequest {
  project: string
  environment: string
  /** The release to run, by digest. */
  release: { id: string; image: string }
  replicas: number
  app: AppSpec
  /** Container environment: config variables and secrets; `secretKeys` names the secrets. */
  env: Record<string, string>
  secretKeys: ReadonlySet<string>
  strategy: DeployStrategy
  registryAuth?: RegistryAuth
  traffic: TrafficSwitch
  registry: RegisteredInstances & Heartbeats
  /** Replace every instance though nothing changed (a redeploy). */
  force?: boolean
  /**
   * Run the environment's canary strategy, if it has one (a deploy of a new release; not a
   * rollback, scale or redeploy): how the gateway's figures and people's commands are read.
   */
  canary?: CanaryHooks
  signal: AbortSignal
  log(line: string): void
}

/** The discovery registry's heartbeat (structurally @slipway/gateway's DiscoveryRegistry). */
export interface Heartbeats {
  heartbeat(instance: Instance, options?: { signal?: AbortSignal }): Promise<boolean>
}

/** One self-healing pass: what changed, and the instances serving after it. */
export interface HealResult {
  changed: boolean
  status: 'succeeded' | 'failed'
  error?: string
  instances: Instance[]
  /** What was done, one line each (empty when nothing was). */
  lines: string[]
}

/**
 * Where an environment's instances run. Deploy, rollback, scale and redeploy are all `deploy`
 * (a rollback is the previous release by digest, a scale the live one with other replicas, a
 * redeploy the live one forced); the rest read or heal what runs. One implementation per kind
 * of target: `docker-hosts` (Slipway's own rolling engine over plain Docker hosts) and `swarm`
 * (a Swarm manager that rolls the service itself). docs/ARCHITECTURE.md maps Kubernetes onto it.
 */
export interface DeployTarget {
  readonly kind: 'docker-hosts' | 'swarm'
  deploy(request: TargetDeployRequest): Promise<RolloutResult>
  /** The instances serving now (running, reachable, of any release). */
  instances(site: { project: string; environment: string }, signal: AbortSignal): Promise<Instance[]>
  /** The last `tail` log lines of one instance. */
  logs(
    instance: Pick<Instance, 'id' | 'host' | 'containerId'>,
    tail: number,
    signal: AbortSignal,
  ): Promise<string[]>
  /** Makes what runs match the live release again, and the gateway match what runs. */
  heal(request: TargetDeployRequest): Promise<HealResult>
}

/** Plain Docker hosts: Slipway places, starts, health-checks and retires every container. */
export class DockerHostsTarget implements DeployTarget {
  readonly kind = 'docker-hosts'

  constructor(
    private readonly site: {
      hosts: DeployHost[]
      ports: HostPorts
      formerHosts?: DeployHost[]
      labels?: Record<string, string>
    },
  ) {}

  deploy(request: TargetDeployRequest): Promise<RolloutResult> {
    const { canary, ...rest } = request
    return canary ? canaryDeploy({ ...rest, ...this.site }, canary) : rollout({ ...rest, ...this.site })
  }

  async instances(site: { project: string; environment: string }, signal: AbortSignal): Promise<Instance[]> {
    const inventory = await discoverSite(this.site.hosts, site.project, site.environment, signal, 5000)
    return inventory.flatMap((host) => host.running)
  }

  async logs(instance: Pick<Instance, 'host' | 'containerId'>, tail: number, signal: AbortSignal) {
    const host = this.site.hosts.find((h) => h.name === instance.host)
    if (!host) return []
    return host.driver.logs(instance.containerId, { tail, signal })
  }

  async heal(request: TargetDeployRequest): Promise<HealResult> {
    const lines: string[] = []
    const result: ReconcileResult = await reconcile({
      ...request,
      ...this.site,
      log: (line) => {
        lines.push(line)
        request.log(line)
      },
    })
    return {
      changed: result.changed,
      status: result.status,
      error: result.error?.message,
      instances: result.instances,
      lines,
    }
  }
}

/**
 * A Docker Swarm: one service per project and environment on the manager; Swarm places,
 * health-checks, updates and rolls back the tasks; Slipway's gateway routes to the tasks at
 * their nodes' addresses (host-mode ports: no routing mesh needed).
 */
export class SwarmTarget implements DeployTarget {
  readonly kind = 'swarm'

  constructor(private readonly manager: DockerodeSwarm) {}

  deploy(request: TargetDeployRequest): Promise<RolloutResult> {
    return swarmDeploy({ ...request, manager: this.manager })
  }

  async instances(site: { project: string; environment: string }, signal: AbortSignal): Promise<Instance[]> {
    const tasks = await this.manager.tasks(serviceName(site.project, site.environment), { signal })
    const nodes = new Map((await this.manager.nodes({ signal })).map((n) => [n.id, n]))
    return instancesOf(site.project, site.environment, tasks, nodes)
  }

  logs(instance: Pick<Instance, 'id'>, tail: number, signal: AbortSignal): Promise<string[]> {
    return this.manager.taskLogs(instance.id, { tail, signal })
  }

  /**
   * Swarm heals the tasks itself (a failed task or a lost node's tasks are started again); this
   * keeps the gateway on the tasks that run now and refreshes their registrations.
   */
  async heal(request: TargetDeployRequest): Promise<HealResult> {
    const lines: string[] = []
    const serving = await this.instances(request, request.signal)
    const { added, removed } = await syncGateway(request, serving, request.signal)
    for (const i of added) lines.push(`gateway: task ${i.id} on ${i.host} is in`)
    for (const i of removed) lines.push(`gateway: ${i.id} on ${i.host} is out (no longer a running task)`)
    const fresh = new Set(added.map((i) => i.id))
    for (const instance of serving)
      if (!fresh.has(instance.id)) await request.registry.heartbeat(instance, { signal: request.signal })
    for (const line of lines) request.log(line)
    const short = serving.length < request.replicas
    return {
      changed: lines.length > 0,
      status: short ? 'failed' : 'succeeded',
      error: short ? `${serving.length} of ${request.replicas} task(s) running` : undefined,
      instances: serving,
      lines,
    }
  }
}
