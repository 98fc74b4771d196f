import { z } from 'zod'
import { Id, SecretInput, Slug, Timestamp } from './common.ts'
import { ErrorCode } from './errors.ts'

/** A host name, an IPv4 literal, or an IPv6 literal in brackets, as in a URL. */
const endpointHost = String.raw`(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])`

/** unix:///path/docker.sock, tcp://host:port (TLS with certificates) or ssh://user@host[:port]. */
export const DockerEndpoint = z
  .string()
  .max(500)
  .regex(
    new RegExp(
      String.raw`^(unix:\/\/\/[^\s]+|tcp:\/\/${endpointHost}:\d{1,5}|ssh:\/\/[A-Za-z0-9._-]+@${endpointHost}(:\d{1,5})?)$`,
    ),
    {
      message: 'unix:///path.sock, tcp://host:port or ssh://user@host[:port]',
    },
  )

/**
 * True for an IPv4 or IPv6 literal that names one host: not the unspecified address
 * (0.0.0.0, ::), which Docker would read as "every interface" and nothing can dial.
 */
export function isHostAddress(value: string): boolean {
  if (z.ipv4().safeParse(value).success) return value !== '0.0.0.0'
  if (!z.ipv6().safeParse(value).success) return false
  return canonicalAddress(value) !== '::'
}

/** The canonical spelling of an IP literal (IPv6 lower-case and shortened), as Docker reports it. */
export function canonicalAddress(address: string): string {
  if (!address.includes(':')) return address
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1)
  } catch (error) {
    // TypeError: not an IPv6 literal URL accepts; left as given.
    if (!(error instanceof TypeError)) throw error
    return address
  }
}

/** `address:port`, with an IPv6 address in brackets (`[fd00::5]:8080`). */
export function addressWithPort(address: string, port: number | string): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/**
 * The address a host's instances are reached at: an IPv4 or IPv6 literal (e.g. 10.0.0.5,
 * fd00::5). Bridge containers are published on it, host-network ones listen on it, health
 * checks and the gateway dial it.
 */
export const HostAddress = z
  .string()
  .max(64)
  .refine(isHostAddress, 'an IPv4 or IPv6 address of the host, e.g. 10.0.0.5 or fd00::5 (not 0.0.0.0 or ::)')

/**
 * The address an endpoint implies: its host for tcp:// and ssh:// when that is an IP literal;
 * undefined for unix:// (the socket says nothing about where containers are reached) and for
 * DNS names (resolved where? Slipway does not guess).
 */
export function endpointAddress(endpoint: string): string | undefined {
  const host = /^(?:tcp|ssh):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/[\]]+)/.exec(endpoint)?.[1]
  if (!host) return undefined
  const literal = host.startsWith('[') ? host.slice(1, -1) : host
  return isHostAddress(literal) ? canonicalAddress(literal) : undefined
}

/** Why a host needs an address given: its endpoint does not imply one. */
export const addressRequiredMessage =
  'required: the endpoint does not name an IP address (unix:// socket or DNS name); give the address its containers are reached at'

const Pem = z
  .string()
  .max(20_000)
  .regex(/-----BEGIN [A-Z ]+-----/, 'a PEM block')
/** A host label's key. */
export const LabelKey = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._/-]{0,62}$/,
    'lower-case letters, digits and . _ / -, starting with a letter or digit, at most 63 characters',
  )
const Labels = z
  .record(LabelKey, z.string().max(200))
  .refine((labels) => Object.keys(labels).length <= 50, 'at most 50 labels')

const hostFields = {
  name: Slug,
  endpoint: DockerEndpoint,
  /** Default: the endpoint's host when it is an IP literal (tcp://, ssh://); required otherwise. */
  address: HostAddress,
  labels: Labels,
  /** Builds are routed to hosts of the project's agent group; null = not a build host. */
  agentGroup: Slug.nullable(),
  maxConcurrentBuilds: z.number().int().min(1).max(64),
  /** null: no TLS. On update an object sets the parts it names and keeps the others. */
  tls: z
    .object({ ca: Pem.optional(), cert: Pem.optional(), key: SecretInput.optional() })
    .strict()
    .nullable(),
}

export const CreateHostBody = z
  .object({
    ...hostFields,
    address: hostFields.address.optional(),
    labels: hostFields.labels.default({}),
    agentGroup: hostFields.agentGroup.default(null),
    maxConcurrentBuilds: hostFields.maxConcurrentBuilds.default(2),
    tls: hostFields.tls.default(null),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.address === undefined && endpointAddress(body.endpoint) === undefined)
      ctx.addIssue({ code: 'custom', path: ['address'], message: addressRequiredMessage })
  })
export type CreateHostBody = z.infer<typeof CreateHostBody>
export const UpdateHostBody = z.object(hostFields).partial().strict()
export type UpdateHostBody = z.infer<typeof UpdateHostBody>

/** The address a new host gets: the one given, else its endpoint's. */
export function hostAddressOf(body: { endpoint: string; address?: string }): string | undefined {
  return body.address === undefined ? endpointAddress(body.endpoint) : canonicalAddress(body.address)
}

/** One step of a host check: what was found, or what failed with its error code. */
const CheckStep = z.object({
  ok: z.boolean(),
  /** For people: the versions found, or the precise failure. */
  message: z.string(),
  /** Set when the step failed (HOST_UNREACHABLE, TIMEOUT, REGISTRY_AUTH_FAILED, REGISTRY_UNREACHABLE...). */
  code: ErrorCode.optional(),
})

/**
 * What `POST /api/hosts/check` found: whether the daemon answers over the endpoint with the
 * TLS material given (its Docker and API versions), and whether the daemon itself reaches
 * each registry of Slipway with its credentials (`ok`, `auth-failed`, `unreachable`,
 * `failed` for another reason, `not-checked` when the daemon could not be asked).
 */
export const HostCheckResult = z.object({
  /** Every step passed. */
  ok: z.boolean(),
  /** The address the host would get. */
  address: z.string(),
  docker: CheckStep.extend({ version: z.string().nullable(), apiVersion: z.string().nullable() }),
  registries: z.array(
    CheckStep.extend({
      id: Id,
      name: z.string(),
      url: z.string(),
      status: z.enum(['ok', 'auth-failed', 'unreachable', 'failed', 'not-checked']),
    }),
  ),
})
export type HostCheckResult = z.infer<typeof HostCheckResult>

export const Host = z.object({
  id: Id,
  name: z.string(),
  endpoint: z.string(),
  /** Where its instances are reached ('' for a host stored before addresses existed whose endpoint named none). */
  address: z.string(),
  labels: z.record(z.string(), z.string()),
  agentGroup: z.string().nullable(),
  maxConcurrentBuilds: z.number(),
  tls: z.object({ caSet: z.boolean(), certSet: z.boolean(), keySet: z.boolean() }),
  status: z.string(),
  lastSeenAt: Timestamp.nullable(),
  lastError: z.string().nullable(),
  dockerVersion: z.string().nullable(),
  createdAt: Timestamp,
})
export type Host = z.infer<typeof Host>

/**
 * An edited host and the TLS material the edit cleared because the endpoint moved without it
 * (`tls.ca`, `tls.cert`, `tls.key`): the client's certificate and key go only where they were given for.
 */
export const UpdatedHost = Host.extend({ cleared: z.array(z.string()) })
export type UpdatedHost = z.infer<typeof UpdatedHost>

/** What a project maintainer may pick from when editing environments and the build (no secrets, no endpoints). */
export const InfrastructureChoices = z.object({
  hosts: z.array(
    z.object({ id: Id, name: z.string(), status: z.string(), agentGroup: z.string().nullable() }),
  ),
  registries: z.array(z.object({ id: Id, name: z.string(), url: z.string() })),
})
