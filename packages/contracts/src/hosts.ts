import { z } from 'zod'
import { Id, SecretInput, Slug, Timestamp } from './common.ts'

/** unix:///path/docker.sock, tcp://host:port (TLS with certificates) or ssh://user@host[:port]. */
export const DockerEndpoint = z
  .string()
  .max(500)
  .regex(
    /^(unix:\/\/\/[^\s]+|tcp:\/\/[A-Za-z0-9.-]+:\d{1,5}|ssh:\/\/[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:\d{1,5})?)$/,
    {
      message: 'unix:///path.sock, tcp://host:port or ssh://user@host[:port]',
    },
  )

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
    labels: hostFields.labels.default({}),
    agentGroup: hostFields.agentGroup.default(null),
    maxConcurrentBuilds: hostFields.maxConcurrentBuilds.default(2),
    tls: hostFields.tls.default(null),
  })
  .strict()
export const UpdateHostBody = z.object(hostFields).partial().strict()
export type UpdateHostBody = z.infer<typeof UpdateHostBody>

export const Host = z.object({
  id: Id,
  name: z.string(),
  endpoint: z.string(),
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

/** What a project maintainer may pick from when editing environments and the build (no secrets, no endpoints). */
export const InfrastructureChoices = z.object({
  hosts: z.array(
    z.object({ id: Id, name: z.string(), status: z.string(), agentGroup: z.string().nullable() }),
  ),
  registries: z.array(z.object({ id: Id, name: z.string(), url: z.string() })),
})
