import { AppError } from '@slipway/core'

/**
 * Credentials in git URLs. A project's git URL may carry them (`https://ci:<token>@host/a.git`,
 * as GitLab's deploy tokens are usually given); they are used by git and never shown: people
 * and the audit log see the URL without them. At rest they are apart from the URL
 * (`splitCredentials`), encrypted, and put back only for git (`joinCredentials`).
 */

const withUserinfo = /^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/i

/**
 * The URL as people may see it. http(s): without any userinfo (a user name there is often
 * the token itself); other schemes (ssh://git@host) keep the user name, never a password.
 * Anything that is not a `scheme://` URL (`git@host:path`, a path) is returned as it is.
 */
export function withoutCredentials(url: string): string {
  const match = withUserinfo.exec(url)
  if (!match) return url
  const [whole, scheme = '', userinfo = ''] = match
  const rest = url.slice(whole.length)
  if (/^https?:\/\/$/i.test(scheme)) return `${scheme}${rest}`
  const user = userinfo.split(':')[0] ?? ''
  return user ? `${scheme}${user}@${rest}` : `${scheme}${rest}`
}

/** Whether the URL carries something `withoutCredentials` hides. */
export function hasCredentials(url: string): boolean {
  return withoutCredentials(url) !== url
}

/**
 * The URL to store when `sent` replaces `stored`: an edit that sends back the URL as shown
 * (credentials hidden) keeps the stored credentials; any other URL is taken as sent, so
 * credentials never follow a URL to another host or repository unless given again.
 */
export function keepCredentials(sent: string, stored: string): string {
  if (hasCredentials(sent) || !hasCredentials(stored)) return sent
  return withoutCredentials(stored) === sent ? stored : sent
}

/**
 * A URL split into what may be stored and shown (`withoutCredentials`) and the userinfo that
 * hides (`ci:<token>`, a lone token, `git:<password>`), or null when it carries none.
 */
export function splitCredentials(url: string): { url: string; credentials: string | null } {
  const shown = withoutCredentials(url)
  if (shown === url) return { url, credentials: null }
  return { url: shown, credentials: withUserinfo.exec(url)?.[2] ?? null }
}

/** The URL git is given: `url` (as stored, without credentials) with `credentials` as its userinfo. */
export function joinCredentials(url: string, credentials: string | null): string {
  if (credentials === null) return url
  const match = withUserinfo.exec(url)
  if (match) return `${match[1]}${credentials}@${url.slice(match[0].length)}`
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0]
  if (!scheme) throw new AppError('INTERNAL', 'credentials can only be put into a scheme:// URL')
  return `${scheme}${credentials}@${url.slice(scheme.length)}`
}
