import type { User as UserContract } from '@slipway/contracts'
import type { User } from '@slipway/db'

export function userView(user: User): UserContract {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    isAdmin: user.isAdmin,
    disabled: user.disabledAt !== null,
    createdAt: user.createdAt,
  }
}
