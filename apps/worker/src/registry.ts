import { type Registry, secretContext } from '@slipway/db'
import type { RegistryAuth } from '@slipway/docker'
import type { WorkerDeps } from './deps.ts'

/** The registry's credentials for Docker (undefined for an anonymous registry). */
export function registryAuth(
  deps: Pick<WorkerDeps, 'secrets'>,
  registry: Registry,
): RegistryAuth | undefined {
  if (!registry.username || !registry.passwordEnc) return undefined
  return {
    serveraddress: registry.url,
    username: registry.username,
    password: deps.secrets.decrypt(registry.passwordEnc, secretContext.registryPassword(registry.id)),
  }
}
