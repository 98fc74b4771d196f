import type { Instance } from '@slipway/contracts'
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
  instance: Omit<Instance, 'port' | 'containerId' | 'host'>,
): Record<string, string> {
  return {
    ...siteLabels(instance.project, instance.environment),
    [labelKeys.release]: instance.release,
    [labelKeys.instance]: instance.id,
    [labelKeys.image]: instance.image,
  }
}

/** Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]. */
export function containerName(project: string, environment: string, id: string): string {
  return `${project}-${environment}-${id}`
}

/** The instance a labelled container runs, or undefined when its labels are incomplete. */
export function instanceFromContainer(host: string, container: ContainerInfo): Instance | undefined {
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
    host,
    port: container.hostPort,
    containerId: container.id,
  }
}
