import type { z } from 'zod'

/** Thrown when the process environment does not satisfy an app's env schema. */
export class EnvError extends Error {
  readonly issues: string[]

  constructor(issues: string[]) {
    super(`invalid configuration:\n${issues.map((issue) => `  - ${issue}`).join('\n')}`)
    this.name = 'EnvError'
    this.issues = issues
  }
}

/** Values of these variables are never echoed in an error message. */
const secretName = /KEY|SECRET|PASSWORD|TOKEN|URL/i

/**
 * Parses `source` (usually process.env) with an app's zod schema. Every problem is reported
 * at once, each naming its variable: "REDIS_URL: required".
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  source: Record<string, string | undefined>,
): z.infer<S> {
  const result = schema.safeParse(source)
  if (result.success) return result.data
  const issues = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)'
    const received = issue.path.length === 1 ? source[String(issue.path[0])] : undefined
    if (received === undefined && issue.code === 'invalid_type') return `${name}: required`
    const shown = received === undefined || secretName.test(name) ? '' : ` (got ${JSON.stringify(received)})`
    return `${name}: ${issue.message}${shown}`
  })
  throw new EnvError(issues)
}

/**
 * Variables a git child process needs from the app's environment: where programs and the
 * user's config live, proxies, CA bundles, an SSH agent, git's own GIT_* settings. Nothing
 * else (the keyring, database URLs) reaches git. Apps call this in their env module.
 */
const gitVariable =
  /^(PATH|HOME|USER|LOGNAME|TMPDIR|XDG_CONFIG_HOME|SSH_AUTH_SOCK|SSL_CERT_FILE|SSL_CERT_DIR|CURL_CA_BUNDLE|(HTTPS?|ALL|NO)_PROXY|(https?|all|no)_proxy|GIT_[A-Z0-9_]+)$/

export function gitEnvOf(source: Record<string, string | undefined>): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const [name, value] of Object.entries(source))
    if (value !== undefined && gitVariable.test(name)) picked[name] = value
  return picked
}
