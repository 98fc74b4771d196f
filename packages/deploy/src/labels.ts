import { addressWithPort, type Instance } from '@slipway/contracts'
import type { ContainerInfo } from '@slipway/docker'

/** Labels Slipway puts on every instance container: the truth on the hosts. */
export const labelKeys = {
  project: 'slipway.project',
  environment: 'slipway.environment',
  release: 'slipway.release',
  instance: 'slipway.instance',
  image: 'slipway.image',
} as const

export function siteLabels(project: string, environment: string): Record<string, string> {
  return { [labelKeys.project]: project, [labelKeys.environment]: environment }
}

export function instanceLabels(
  instance: Omit<Instance, 'port' | 'containerId' | 'host' | 'address'>,
): Record<string, string> {
  return {
    ...siteLabels(instance.project, instance.environment),
    [labelKeys.release]: instance.release,
    [labelKeys.instance]: instance.id,
    [labelKeys.image]: instance.image,
  }
}

/** `id on host (address:port)`, as log lines name an instance. */
export function where(instance: Pick<Instance, 'id' | 'host' | 'address' | 'port'>): string {
  return `${instance.id} on ${instance.host} (${addressWithPort(instance.address, instance.port)})`
}

/** Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]. */
export function containerName(project: string, environment: string, id: string): string {
  return `${project}-${environment}-${id}`
}

/** The container name of `instance` (also the key of its host-network port lease). */
export function containerNameOf(instance: Pick<Instance, 'project' | 'environment' | 'id'>): string {
  return containerName(instance.project, instance.environment, instance.id)
}

/**
 * The instance a labelled container runs on `host`, reached at the host's address, or
 * undefined when its labels are incomplete or it has no port there (a stopped bridge container).
 */
export function instanceFromContainer(
  host: { name: string; address: string },
  container: ContainerInfo,
): Instance | undefined {
  const label = container.labels
  const id = label[labelKeys.instance]
  const project = label[labelKeys.project]
  const environment = label[labelKeys.environment]
  const release = label[labelKeys.release]
  const image = label[labelKeys.image]
  if (!id || !project || !environment || !release || !image || !container.hostPort) return undefined
  return {
    id,
    project,
    environment,
    release,
    image,
    host: host.name,
    address: host.address,
    port: container.hostPort,
    containerId: container.id,
  }
}
