import type { CreateHostBody, HostCheckResult } from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import { secretContext } from '@slipway/db'
import { DockerodeHost, type RegistryAuth } from '@slipway/docker'
import type { AppDeps } from '../deps.ts'

/** Bounds of one check: the daemon's version, then every registry at once. */
const versionTimeoutMs = 5_000
const registryTimeoutMs = 10_000
/** Registries asked at most (each is one call to the daemon). */
const maxRegistries = 20

type RegistryStatus = HostCheckResult['registries'][number]['status']

/** How a failed registry call reads to people. */
function registryStatus(error: unknown): RegistryStatus {
  const code = error instanceof AppError ? error.code : undefined
  switch (code) {
    case 'REGISTRY_AUTH_FAILED':
      return 'auth-failed'
    case 'REGISTRY_UNREACHABLE':
    case 'TIMEOUT':
      return 'unreachable'
    default:
      return 'failed'
  }
}

function failure(error: unknown): { ok: false; code: AppError['code']; message: string } {
  return {
    ok: false,
    code: error instanceof AppError ? error.code : 'INTERNAL',
    message: errorMessage(error),
  }
}

/**
 * Checks a host before it is stored: the daemon answers over `body.endpoint` with the TLS
 * material given (its Docker and API versions), and the daemon itself reaches every registry
 * of Slipway with its credentials (Engine API `GET /distribution/{name}/json`, as for a pull,
 * for an image of a project that uses the registry). Each step is bounded in time; nothing is
 * stored and no container is started.
 */
export async function checkHost(
  deps: Pick<AppDeps, 'db' | 'secrets'>,
  body: CreateHostBody,
  address: string,
): Promise<HostCheckResult> {
  const daemon = new DockerodeHost(body.name, {
    endpoint: body.endpoint,
    tls: body.tls ? { ca: body.tls.ca, cert: body.tls.cert, key: body.tls.key } : undefined,
    address,
  })
  const registries = await deps.db.registry.findMany({
    orderBy: { name: 'asc' },
    take: maxRegistries,
    include: { projects: { select: { imageRepository: true }, orderBy: { slug: 'asc' }, take: 1 } },
  })
  const docker = await daemon.version({ signal: AbortSignal.timeout(versionTimeoutMs) }).then(
    ({ version, apiVersion }) => ({
      ok: true,
      message: `Docker ${version} (API ${apiVersion})`,
      version,
      apiVersion,
    }),
    (error: unknown) => ({ ...failure(error), version: null, apiVersion: null }),
  )
  const checked = await Promise.all(
    registries.map(async (registry) => {
      const row = { id: registry.id, name: registry.name, url: registry.url }
      if (!docker.ok)
        return {
          ...row,
          ok: false,
          status: 'not-checked' as const,
          message: 'not checked: the daemon did not answer',
        }
      const repository = registry.projects[0]?.imageRepository ?? 'slipway/host-check'
      const auth: RegistryAuth | undefined =
        registry.username && registry.passwordEnc
          ? {
              serveraddress: registry.url,
              username: registry.username,
              password: deps.secrets.decrypt(
                registry.passwordEnc,
                secretContext.registryPassword(registry.id),
              ),
            }
          : undefined
      try {
        await daemon.reachRegistry(`${registry.url}/${repository}:latest`, auth, {
          signal: AbortSignal.timeout(registryTimeoutMs),
        })
        const as = auth ? ` as ${auth.username}` : ' anonymously'
        return {
          ...row,
          ok: true,
          status: 'ok' as const,
          message: `${body.name} reaches ${registry.url}${as}`,
        }
      } catch (error) {
        return { ...row, ...failure(error), status: registryStatus(error) }
      }
    }),
  )
  return {
    ok: docker.ok && checked.every((registry) => registry.ok),
    address,
    docker,
    registries: checked,
  }
}
