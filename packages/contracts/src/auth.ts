import { z } from 'zod'
import { Id, Timestamp } from './common.ts'

export const Email = z
  .email()
  .max(254)
  .transform((email) => email.toLowerCase())
export const Password = z.string().min(10, 'at least 10 characters').max(200)

export const SetupBody = z
  .object({ email: Email, name: z.string().min(1).max(100), password: Password })
  .strict()
export type SetupBody = z.infer<typeof SetupBody>

export const LoginBody = z.object({ email: Email, password: z.string().min(1).max(200) }).strict()
export type LoginBody = z.infer<typeof LoginBody>

/** `POST /api/auth/password`: your own password; ends your other sessions and revokes your API tokens. */
export const ChangePasswordBody = z
  .object({ currentPassword: z.string().min(1).max(200), newPassword: Password })
  .strict()
export type ChangePasswordBody = z.infer<typeof ChangePasswordBody>

export const AuthStatus = z.object({
  /** True until the first administrator has been created (first-run setup). */
  setupRequired: z.boolean(),
})

export const RoleName = z.enum(['admin', 'maintainer', 'developer', 'tester', 'viewer'])
export type RoleName = z.infer<typeof RoleName>

export const User = z.object({
  id: Id,
  email: z.string(),
  name: z.string(),
  isAdmin: z.boolean(),
  disabled: z.boolean(),
  createdAt: Timestamp,
})
export type User = z.infer<typeof User>

export const Me = z.object({
  user: User,
  /** Send as X-CSRF-Token on writes authenticated by the session cookie. */
  csrfToken: z.string().nullable(),
  memberships: z.array(z.object({ projectId: Id, projectSlug: z.string(), role: RoleName })),
  /** How this request was authenticated. */
  via: z.enum(['session', 'token']),
})
export type Me = z.infer<typeof Me>

export const CreateUserBody = z
  .object({
    email: Email,
    name: z.string().min(1).max(100),
    password: Password,
    isAdmin: z.boolean().default(false),
  })
  .strict()
export const UpdateUserBody = z
  .object({
    name: z.string().min(1).max(100).optional(),
    password: Password.optional(),
    isAdmin: z.boolean().optional(),
    disabled: z.boolean().optional(),
  })
  .strict()

export const ApiToken = z.object({
  id: Id,
  name: z.string(),
  prefix: z.string(),
  expiresAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
  createdAt: Timestamp,
})
export type ApiToken = z.infer<typeof ApiToken>

export const CreateTokenBody = z
  .object({
    name: z.string().min(1).max(100),
    /** Days until the token expires; omitted = never. */
    expiresInDays: z.number().int().min(1).max(3650).optional(),
  })
  .strict()
/** The token itself appears in this response only. */
export const CreatedToken = ApiToken.extend({ token: z.string() })

export const Member = z.object({ user: User, role: RoleName, createdAt: Timestamp })
export const PutMemberBody = z.object({ role: RoleName }).strict()
