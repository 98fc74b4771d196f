import { createHash } from 'node:crypto'
import type { AppSpec, DeployStrategy, Instance } from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import type { DockerodeSwarm, RegistryAuth, SwarmNode, SwarmTask } from '@slipway/docker'
import { judgeSwarm, swarmHealth, swarmPolicies } from '@slipway/rollout'
import { labelKeys, siteLabels, where } from '../labels.ts'
import type { RegisteredInstances, RolloutResult, TrafficSwitch } from '../types.ts'
import { sleep } from '../util.ts'

/** Label on a task's container: a hash of everything that makes its spec (not the replicas). */
const specLabel = 'slipway.spec'

/** The service of a project's environment on a swarm. */
export function serviceName(project: string, environment: string): string {
  return `slipway-${project}-${environment}`
}

export interface SwarmDeployRequest {
  project: string
  environment: string
  release: { id: string; image: string }
  manager: DockerodeSwarm
  replicas: number
  app: AppSpec
  /** Config variables and secrets; those named in `secretKeys` go as Swarm secrets, not env. */
  env: Record<string, string>
  secretKeys: ReadonlySet<string>
  strategy: DeployStrategy
  registryAuth?: RegistryAuth
  traffic: TrafficSwitch
  registry: RegisteredInstances
  /** Replace every task though nothing changed (a redeploy). */
  force?: boolean
  signal: AbortSignal
  log(line: string): void
  /** Poll period while converging (default 250 ms). */
  pollMs?: number
}

/** The instances a service's tasks are: running, wanted running, with a published port on a known node. */
export function instancesOf(
  project: string,
  environment: string,
  tasks: readonly SwarmTask[],
  nodes: ReadonlyMap<string, SwarmNode>,
): Instance[] {
  const out: Instance[] = []
  for (const task of tasks) {
    const node = task.nodeId ? nodes.get(task.nodeId) : undefined
    if (task.desiredState !== 'running' || task.state !== 'running') continue
    if (!node?.address || !task.publishedPort || !task.containerId) continue
    out.push({
      id: task.id,
      project,
      environment,
      release: task.labels[labelKeys.release] ?? '',
      image: task.labels[labelKeys.image] ?? task.image,
      host: node.hostname,
      address: node.address,
      port: task.publishedPort,
      containerId: task.containerId,
    })
  }
  return out
}

/**
 * Makes the gateway route to exactly `serving`: one swap of what it has now (from the discovery
 * registry) for what serves. Returns what changed.
 */
export async function syncGateway(
  site: { project: string; environment: string; traffic: TrafficSwitch; registry: RegisteredInstances },
  serving: readonly Instance[],
  signal: AbortSignal,
): Promise<{ added: Instance[]; removed: Instance[] }> {
  const key = (i: Instance) => `${i.id}@${i.address}:${i.port}`
  const registered = await site.registry.list(site.project, site.environment, { signal })
  const have = new Set(registered.map(key))
  const want = new Set(serving.map(key))
  const added = serving.filter((i) => !have.has(key(i)))
  const removed = registered.filter((i) => !want.has(key(i)))
  if (added.length || removed.length) await site.traffic.swap(added, removed, signal)
  return { added, removed }
}

/** Node id -> node, read again when a task names a node not seen yet. */
async function nodeMap(
  manager: DockerodeSwarm,
  tasks: readonly SwarmTask[],
  known: Map<string, SwarmNode>,
  signal: AbortSignal,
): Promise<Map<string, SwarmNode>> {
  if (tasks.every((t) => !t.nodeId || known.has(t.nodeId)) && known.size) return known
  const fresh = new Map((await manager.nodes({ signal })).map((n) => [n.id, n]))
  return fresh
}

/**
 * Removes the site's secrets other than `keep` (values of earlier releases); one Docker still
 * refuses to remove (in use) stays, and the next deploy tries again.
 */
async function pruneSecrets(
  manager: DockerodeSwarm,
  labels: Record<string, string>,
  keep: ReadonlySet<string>,
  log: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const filters = { label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) }
  for (const secret of await manager.secrets(filters, { signal })) {
    if (keep.has(secret.id)) continue
    const refused = await manager.removeSecret(secret.id, { signal })
    if (!refused) log(`swarm: removed secret ${secret.name} (no longer used)`)
  }
}

/**
 * Deploys a release to a swarm as one service per project and environment: creates or updates
 * it (Swarm replaces the tasks by its update_config, rolls back on a failed task), follows the
 * tasks until the service has converged or Swarm has rolled it back, keeps the Slipway gateway
 * on the running tasks all along, and says each step in the stage log.
 */
export async function swarmDeploy(request: SwarmDeployRequest): Promise<RolloutResult> {
  const started = Date.now()
  const { manager, project, environment, signal, log } = request
  const name = serviceName(project, environment)
  const warnings: string[] = []
  const result = (partial: Partial<RolloutResult> & Pick<RolloutResult, 'status'>): RolloutResult => ({
    rolledBack: false,
    instances: [],
    batches: [],
    hosts: [],
    warnings,
    durationMs: Date.now() - started,
    ...partial,
  })
  try {
    await manager.assertManager({ signal })
    const labels = siteLabels(project, environment)
    // Secrets: one Swarm secret per value (named by its hash), mounted as /run/secrets/<KEY>.
    const env: Record<string, string> = {}
    const secrets: { id: string; name: string; fileName: string }[] = []
    for (const [key, value] of Object.entries(request.env)) {
      if (!request.secretKeys.has(key)) {
        env[key] = value
        continue
      }
      const secret = await manager.ensureSecret(`${name}-${key}`.slice(0, 40), value, labels, { signal })
      secrets.push({ ...secret, fileName: key })
    }
    const health = swarmHealth(request.app)
    const current = await manager.service(name, { signal })
    const spec = createHash('sha256')
      .update(
        JSON.stringify([
          request.release.image,
          env,
          secrets.map((s) => [s.name, s.fileName]),
          health,
          request.app.containerPort,
          request.app.stopGraceSeconds,
          request.app.resources,
          request.force ? request.release.id : '',
        ]),
      )
      .digest('hex')
      .slice(0, 16)
    // Same spec as now (a scale): the running tasks stay, with the release that started them.
    const sameSpec = current?.taskLabels[specLabel] === spec
    const taskLabels =
      sameSpec && current
        ? current.taskLabels
        : {
            ...labels,
            [labelKeys.release]: request.release.id,
            [labelKeys.image]: request.release.image,
            [specLabel]: spec,
          }
    const policies = swarmPolicies(request.strategy, request.replicas)
    const memory = request.app.resources.memoryMb
    const cpus = request.app.resources.cpus
    const before = current?.updateStartedAt
    const written = await manager.upsertService(
      {
        name,
        image: request.release.image,
        labels: { ...labels, [labelKeys.release]: request.release.id },
        taskLabels,
        env,
        secrets,
        replicas: request.replicas,
        containerPort: request.app.containerPort,
        healthCheck: health,
        stopGraceSeconds: request.app.stopGraceSeconds,
        memoryBytes: memory ? memory * 1024 * 1024 : undefined,
        nanoCpus: cpus ? Math.round(cpus * 1e9) : undefined,
        update: policies.update,
        rollback: policies.rollback,
      },
      request.registryAuth,
      { signal },
    )
    for (const warning of written.warnings) {
      warnings.push(warning)
      log(`swarm: ${warning}`)
    }
    const { update } = policies
    log(
      `swarm: service ${name} ${written.created ? 'created' : sameSpec ? 'scaled' : 'updated'} on ${manager.name}: ${request.replicas} task(s) of ${request.release.image}, ${update.parallelism} at a time, ${update.order}, monitor ${update.monitorMs / 1000} s, failure action ${update.failureAction}`,
    )

    // Converge: bounded by the health timeout per batch, plus the monitor period, plus slack.
    const batches = Math.ceil(Math.max(1, request.replicas) / update.parallelism)
    const boundMs = batches * (request.strategy.healthTimeoutSeconds * 1000 + update.monitorMs) + 60_000
    const deadline = Date.now() + boundMs
    let nodes = new Map<string, SwarmNode>()
    const seen = new Map<string, string>()
    let rollingBackSaid = false
    let lastFailure: string | undefined
    for (;;) {
      const [service, tasks] = await Promise.all([
        manager.service(name, { signal }),
        manager.tasks(name, { signal }),
      ])
      if (!service) throw new AppError('CONTAINER_FAILED', `service ${name} disappeared from ${manager.name}`)
      nodes = await nodeMap(manager, tasks, nodes, signal)
      // Each task's state changes, once each, in the stage log.
      for (const task of tasks) {
        const state = `${task.desiredState}/${task.state}`
        if (seen.get(task.id) === state) continue
        seen.set(task.id, state)
        const node = task.nodeId ? nodes.get(task.nodeId) : undefined
        const release = task.labels[labelKeys.release] === request.release.id ? 'new' : 'old'
        const reason = task.error ? `: ${task.error}` : ''
        if (task.state === 'failed' || task.state === 'rejected') lastFailure = task.error ?? task.message
        if (['running', 'failed', 'rejected', 'shutdown', 'complete'].includes(task.state) || reason)
          log(
            `swarm: task ${task.id.slice(0, 12)} (${release}) on ${node?.hostname ?? 'no node yet'}: ${task.state}${reason}`,
          )
      }
      const serving = instancesOf(project, environment, tasks, nodes)
      const changed = await syncGateway(
        { project, environment, traffic: request.traffic, registry: request.registry },
        serving,
        signal,
      )
      for (const instance of changed.added) log(`gateway: ${where(instance)} is in`)
      for (const instance of changed.removed) log(`gateway: ${where(instance)} is out`)

      const updateState = service.updateStartedAt !== before ? service.updateState : undefined
      const verdict = judgeSwarm({
        specIsOurs: service.taskLabels[specLabel] === taskLabels[specLabel],
        updateState,
        updateMessage: service.updateMessage,
        replicas: request.replicas,
        tasks: tasks.map((t) => ({
          desiredState: t.desiredState,
          state: t.state,
          current: t.labels[specLabel] === taskLabels[specLabel],
        })),
      })
      // Kept: what the spec and the previous spec (Swarm's rollback target) mount.
      if (verdict.phase === 'done' || verdict.phase === 'rolled-back')
        await pruneSecrets(manager, labels, new Set(service.secretIds), log, signal)
      if (verdict.phase === 'done') {
        log(`swarm: ${name} converged: ${serving.length} task(s) running and in the gateway`)
        return result({ status: 'succeeded', instances: serving })
      }
      if (verdict.phase === 'rolling-back' && !rollingBackSaid) {
        rollingBackSaid = true
        log(
          `swarm: the update failed (${service.updateMessage ?? lastFailure ?? 'a task failed'}); Swarm is rolling ${name} back to the previous spec`,
        )
      }
      if (verdict.phase === 'rolled-back') {
        const why = lastFailure ?? service.updateMessage ?? 'a task failed'
        log(`swarm: Swarm rolled ${name} back; the previous release serves on ${serving.length} task(s)`)
        return result({
          status: 'failed',
          rolledBack: true,
          instances: serving,
          error: {
            code: 'HEALTH_CHECK_FAILED',
            message: `Swarm rolled the update of ${name} back: ${why}`,
          },
        })
      }
      if (verdict.phase === 'failed')
        return result({
          status: 'failed',
          instances: serving,
          error: { code: 'CONTAINER_FAILED', message: verdict.reason },
        })
      if (Date.now() > deadline)
        return result({
          status: 'failed',
          instances: serving,
          error: {
            code: 'TIMEOUT',
            message: `${name} did not converge within ${Math.round(boundMs / 1000)} s (${serving.length} of ${request.replicas} task(s) running${lastFailure ? `; last failure: ${lastFailure}` : ''})`,
          },
        })
      await sleep(request.pollMs ?? 250, signal)
    }
  } catch (error) {
    const code = error instanceof AppError ? error.code : 'INTERNAL'
    log(`swarm: deploy of ${name} failed: ${errorMessage(error)}`)
    return result({ status: 'failed', error: { code, message: errorMessage(error) } })
  }
}
