/**
 * A stored credential belongs to the place it is sent to. Whoever may change that place
 * (a maintainer for a project's GitLab URL, an administrator for a registry or a Docker host)
 * could otherwise point it at a server of their own and read the write-only secret from the
 * request Slipway makes. So moving a credential's destination clears the credential unless
 * the same change sends it again.
 */

export interface CredentialChange {
  /** Where the credential is sent today (null: nowhere configured). */
  destinationBefore: string | null
  /** Where it will be sent after the change (undefined: the change leaves it as it is). */
  destinationAfter: string | null | undefined
  /** Is a credential stored today? */
  stored: boolean
  /** Does the same change send a new value (or explicitly remove it)? */
  resent: boolean
}

/** Compares destinations the way a client dials them: scheme and host case-insensitive, no trailing slash. */
export function sameDestination(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b
  return normalize(a) === normalize(b)
}

function normalize(destination: string): string {
  const trimmed = destination.trim().replace(/\/+$/, '')
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(trimmed)
  if (!scheme) return trimmed.toLowerCase()
  return scheme[0].toLowerCase() + trimmed.slice(scheme[0].length)
}

/** Must the stored credential be cleared by this change? */
export function mustClearCredential(change: CredentialChange): boolean {
  if (!change.stored || change.resent) return false
  if (change.destinationAfter === undefined) return false
  return !sameDestination(change.destinationBefore, change.destinationAfter)
}
