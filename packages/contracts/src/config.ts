import { z } from 'zod'
import { Id, SecretInput, Timestamp } from './common.ts'
import { EnvKey } from './projects.ts'

/** Names Slipway sets itself on every container. */
export const reservedEnvKeys = ['ENVT', 'PROJ'] as const

const UserKey = EnvKey.refine((key) => !(reservedEnvKeys as readonly string[]).includes(key), {
  message: 'ENVT and PROJ are set by Slipway',
})

/** One change set = one new config version. */
export const PatchConfigBody = z
  .object({
    variables: z.record(UserKey, z.string().max(32_768)).optional(),
    secrets: z.record(UserKey, SecretInput).optional(),
    unset: z.array(UserKey).max(500).optional(),
    note: z.string().max(500).optional(),
  })
  .strict()
  .refine((body) => Boolean(body.variables || body.secrets || body.unset?.length), 'nothing to change')
export type PatchConfigBody = z.infer<typeof PatchConfigBody>

/** Variables with values; secrets by name only. */
export const ConfigSnapshot = z.object({
  version: z.number(),
  id: Id.nullable(),
  createdAt: Timestamp.nullable(),
  variables: z.array(z.object({ key: z.string(), value: z.string() })),
  secrets: z.array(z.object({ key: z.string() })),
})
export type ConfigSnapshot = z.infer<typeof ConfigSnapshot>

export const ConfigVersionSummary = z.object({
  id: Id,
  version: z.number(),
  createdAt: Timestamp,
  createdBy: z.string().nullable(),
  note: z.string().nullable(),
  keys: z.array(z.object({ key: z.string(), secret: z.boolean() })),
})
