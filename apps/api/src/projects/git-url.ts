import type { SecretBox } from '@slipway/core'
import { type Db, type Project, secretContext } from '@slipway/db'
import { hasCredentials, joinCredentials, keepCredentials, splitCredentials } from '@slipway/git'

type GitUrlColumns = Pick<Project, 'id' | 'gitUrl' | 'gitCredentialsEnc'>

/**
 * The URL git is given for a project: the stored URL with its credentials, opened from their
 * envelope, put back. A row whose credentials were not moved out yet (see
 * `sealGitUrlCredentials`) still has them in `gitUrl`, which is then used as it is.
 */
export function projectGitUrl(secrets: SecretBox, project: GitUrlColumns): string {
  if (project.gitCredentialsEnc === null) return project.gitUrl
  return joinCredentials(
    project.gitUrl,
    secrets.decrypt(project.gitCredentialsEnc, secretContext.projectGitCredentials(project.id)),
  )
}

/**
 * The columns for a git URL sent in a create or an edit: the URL without credentials, and
 * the credentials encrypted apart. The URL as shown (credentials hidden) sent back keeps the
 * stored credentials; any other URL without credentials clears them (they do not follow a
 * URL to another host or repository unless given again), and `cleared` says so.
 */
export function gitUrlColumns(
  secrets: SecretBox,
  projectId: string,
  sent: string,
  current?: GitUrlColumns,
): { data: { gitUrl: string; gitCredentialsEnc: string | null }; cleared: string[] } {
  const stored = current ? projectGitUrl(secrets, current) : undefined
  const { url, credentials } = splitCredentials(stored === undefined ? sent : keepCredentials(sent, stored))
  return {
    data: {
      gitUrl: url,
      gitCredentialsEnc:
        credentials === null
          ? null
          : secrets.encrypt(credentials, secretContext.projectGitCredentials(projectId)),
    },
    cleared:
      stored !== undefined && hasCredentials(stored) && credentials === null ? ['gitUrl.credentials'] : [],
  }
}

/**
 * Moves credentials still inside stored git URLs (kept there as given before 2026-12-06)
 * into `gitCredentialsEnc`, encrypted. A SQL migration cannot encrypt (the keyring is not in
 * the database), so the API runs this when it starts, before it listens. Idempotent: a moved
 * URL has no credentials left. Safe beside another API starting: a row is updated only while
 * its `gitUrl` is still the one read, so one of them moves it and the other skips it.
 * Answers how many rows it moved.
 */
export async function sealGitUrlCredentials(db: Db, secrets: SecretBox): Promise<number> {
  const rows = await db.project.findMany({
    where: { gitUrl: { contains: '@' } },
    select: { id: true, gitUrl: true },
  })
  let moved = 0
  for (const row of rows) {
    const { url, credentials } = splitCredentials(row.gitUrl)
    if (credentials === null) continue
    const { count } = await db.project.updateMany({
      where: { id: row.id, gitUrl: row.gitUrl },
      data: {
        gitUrl: url,
        gitCredentialsEnc: secrets.encrypt(credentials, secretContext.projectGitCredentials(row.id)),
      },
    })
    moved += count
  }
  return moved
}
