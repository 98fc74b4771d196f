/**
 * Project isolation. An instance administrator grants Docker hosts and registries to a project
 * and sets its limits; the project's maintainers choose only among what was granted and stay
 * within the limits. Checked where the choice is made (the API) and again at deploy (the worker),
 * so a grant withdrawn later stops the next deploy too.
 */

export interface ProjectLimits {
  /** Replicas per environment. */
  maxReplicas: number
  /** Memory per instance, in MiB; an app spec without a limit runs with this one. */
  maxMemoryMb: number
  /** May the app share its hosts' network (no isolation between containers)? */
  allowHostNetwork: boolean
}

export const defaultProjectLimits: ProjectLimits = {
  maxReplicas: 10,
  maxMemoryMb: 2048,
  allowHostNetwork: false,
}

export interface RegistryGrant {
  registryId: string
  /** The project's images live at this repository path or below it (`team/shop`, `team/shop/api`). */
  pathPrefix: string
}

export interface ProjectGrants {
  hostIds: readonly string[]
  registries: readonly RegistryGrant[]
  limits: ProjectLimits
}

/** The app-spec fields isolation looks at (structurally @slipway/contracts' AppSpec). */
export interface AppSpecLimits {
  network: 'bridge' | 'host'
  resources?: { memoryMb?: number | undefined } | undefined
}

/** What a project asks for: any subset, as a write names only what it changes. */
export interface ProjectChoices {
  hostIds?: readonly string[]
  /** The registry and repository path the project pushes to (registryId null: none). */
  image?: { registryId: string | null; repository: string }
  appSpec?: AppSpecLimits
  replicas?: number
  /**
   * The build agent group the project builds in, with the hosts in it: builds run only on the
   * group's hosts that were granted, so at least one must be.
   */
  buildGroup?: { name: string; hostIds: readonly string[] }
}

export const grantRules = [
  'host-not-granted',
  'registry-not-granted',
  'repository-outside-grant',
  'replicas-over-limit',
  'memory-over-limit',
  'host-network-not-granted',
  'build-group-not-granted',
] as const
export type GrantRule = (typeof grantRules)[number]

export interface GrantViolation {
  rule: GrantRule
  /** The request field at fault, as in validation errors (`body.hostIds`). */
  path: string
  message: string
}

/** The repository path a project's images get by default: its slug. */
export function defaultPathPrefix(projectSlug: string): string {
  return projectSlug
}

/** Is `repository` the granted path or below it? (`team/shop` is within `team`, `team-b` is not.) */
export function repositoryWithin(prefix: string, repository: string): boolean {
  return repository === prefix || repository.startsWith(`${prefix}/`)
}

/** Every way the choices leave what the project was granted (empty: all granted). */
export function checkChoices(grants: ProjectGrants, choices: ProjectChoices): GrantViolation[] {
  const violations: GrantViolation[] = []
  const { limits } = grants
  if (choices.hostIds) {
    const missing = [...new Set(choices.hostIds)].filter((id) => !grants.hostIds.includes(id))
    if (missing.length)
      violations.push({
        rule: 'host-not-granted',
        path: 'body.hostIds',
        message: `host(s) ${missing.join(', ')} are not granted to this project; an instance administrator grants hosts`,
      })
  }
  if (choices.image?.registryId) {
    const { registryId, repository } = choices.image
    const grant = grants.registries.find((g) => g.registryId === registryId)
    if (!grant)
      violations.push({
        rule: 'registry-not-granted',
        path: 'body.registryId',
        message: `registry ${registryId} is not granted to this project; an instance administrator grants registries`,
      })
    else if (!repositoryWithin(grant.pathPrefix, repository))
      violations.push({
        rule: 'repository-outside-grant',
        path: 'body.imageRepository',
        message: `the project's images must live at ${grant.pathPrefix} or below it in this registry, not ${repository}`,
      })
  }
  if (choices.appSpec) {
    const memory = choices.appSpec.resources?.memoryMb
    if (memory !== undefined && memory > limits.maxMemoryMb)
      violations.push({
        rule: 'memory-over-limit',
        path: 'body.appSpec.resources.memoryMb',
        message: `${memory} MiB per instance is over this project's limit of ${limits.maxMemoryMb} MiB`,
      })
    if (choices.appSpec.network === 'host' && !limits.allowHostNetwork)
      violations.push({
        rule: 'host-network-not-granted',
        path: 'body.appSpec.network',
        message: 'the host network needs an instance administrator’s grant for this project',
      })
  }
  if (choices.buildGroup && !choices.buildGroup.hostIds.some((id) => grants.hostIds.includes(id)))
    violations.push({
      rule: 'build-group-not-granted',
      path: 'body.buildAgentGroup',
      message: `no host of build agent group "${choices.buildGroup.name}" is granted to this project; an instance administrator grants hosts`,
    })
  if (choices.replicas !== undefined && choices.replicas > limits.maxReplicas)
    violations.push({
      rule: 'replicas-over-limit',
      path: 'body.replicas',
      message: `${choices.replicas} replicas is over this project's limit of ${limits.maxReplicas}`,
    })
  return violations
}

/**
 * The grants after an instance administrator's own choice: what an administrator sets for a
 * project is granted to it (hosts, the registry at the repository chosen, the host network,
 * limits raised to what was set). Returns the same object when nothing needs widening.
 */
export function widenGrants(grants: ProjectGrants, choices: ProjectChoices): ProjectGrants {
  if (checkChoices(grants, choices).length === 0) return grants
  const hostIds = [
    ...new Set([...grants.hostIds, ...(choices.hostIds ?? []), ...(choices.buildGroup?.hostIds ?? [])]),
  ]
  let registries = grants.registries
  const image = choices.image
  if (image?.registryId) {
    const registryId = image.registryId
    const current = registries.find((g) => g.registryId === registryId)
    if (!current || !repositoryWithin(current.pathPrefix, image.repository))
      registries = [
        ...registries.filter((g) => g.registryId !== registryId),
        { registryId, pathPrefix: image.repository },
      ]
  }
  const memory = choices.appSpec?.resources?.memoryMb
  const limits: ProjectLimits = {
    maxReplicas: Math.max(grants.limits.maxReplicas, choices.replicas ?? 0),
    maxMemoryMb: Math.max(grants.limits.maxMemoryMb, memory ?? 0),
    allowHostNetwork: grants.limits.allowHostNetwork || choices.appSpec?.network === 'host',
  }
  return { hostIds, registries, limits }
}

/** The memory an instance runs with: the app spec's own limit, else the project's. */
export function effectiveMemoryMb(
  limits: Pick<ProjectLimits, 'maxMemoryMb'>,
  appSpec: AppSpecLimits,
): number {
  return appSpec.resources?.memoryMb ?? limits.maxMemoryMb
}
