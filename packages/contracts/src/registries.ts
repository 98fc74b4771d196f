import { z } from 'zod'
import { Id, SecretInput, Slug, Timestamp } from './common.ts'

/** host[:port] as in image references, e.g. 127.0.0.1:5001 or registry.example.com. */
export const RegistryAddress = z
  .string()
  .max(255)
  .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'host[:port] without a scheme, e.g. registry.example.com:5000')

export const CreateRegistryBody = z
  .object({
    name: Slug,
    url: RegistryAddress,
    username: z.string().min(1).max(200).nullable().default(null),
    password: SecretInput.nullable().default(null),
  })
  .strict()
export const UpdateRegistryBody = z
  .object({
    name: Slug,
    url: RegistryAddress,
    username: z.string().min(1).max(200).nullable(),
    password: SecretInput.nullable(),
  })
  .partial()
  .strict()

export const Registry = z.object({
  id: Id,
  name: z.string(),
  url: z.string(),
  username: z.string().nullable(),
  passwordSet: z.boolean(),
  createdAt: Timestamp,
})
export type Registry = z.infer<typeof Registry>

/** An edited registry and the credentials cleared because its URL moved without them (`password`). */
export const UpdatedRegistry = Registry.extend({ cleared: z.array(z.string()) })
export type UpdatedRegistry = z.infer<typeof UpdatedRegistry>
