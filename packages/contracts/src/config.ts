import { z } from 'zod'
import { Id, SecretInput, Timestamp } from './common.ts'
import { EnvKey } from './projects.ts'

/** Names Slipway sets itself on every container. */
export const reservedEnvKeys = ['ENVT', 'PROJ'] as const

/** One change set = one new config version. */
export const PatchConfigBody = z
  .object({
    variables: z
      .record(EnvKey, z.string().max(32_768))
      .refine((values) => Object.keys(values).length <= 500, 'at most 500 variables at once')
      .optional(),
    secrets: z
      .record(EnvKey, SecretInput)
      .refine((values) => Object.keys(values).length <= 200, 'at most 200 secrets at once')
      .optional(),
    unset: z.array(EnvKey).max(500).optional(),
    note: z.string().max(500).optional(),
  })
  .strict()
  .refine((body) => Boolean(body.variables || body.secrets || body.unset?.length), 'nothing to change')
  .superRefine((body, ctx) => {
    for (const field of ['variables', 'secrets'] as const) {
      for (const key of Object.keys(body[field] ?? {})) {
        if ((reservedEnvKeys as readonly string[]).includes(key)) {
          ctx.addIssue({ code: 'custom', path: [field, key], message: `${key} is set by Slipway` })
        }
      }
    }
  })
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
