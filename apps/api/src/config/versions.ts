import type { ConfigSnapshot, PatchConfigBody } from '@slipway/contracts'
import type { SecretBox } from '@slipway/core'
import { type Db, type Prisma, secretContext } from '@slipway/db'

export interface StoredEntry {
  key: string
  secret: boolean
  value: string | null
  valueEnc: string | null
}

/**
 * The entries of the next version: the current ones with the patch applied. A key is either
 * a variable or a secret; setting it as the other kind replaces it. Pure except for sealing
 * new secret values.
 */
export function nextEntries(
  current: StoredEntry[],
  patch: PatchConfigBody,
  seal: (key: string, value: string) => string,
): { entries: StoredEntry[]; changed: string[] } {
  const byKey = new Map(
    current.map(({ key, secret, value, valueEnc }) => [
      key,
      { key, secret, value, valueEnc } satisfies StoredEntry,
    ]),
  )
  const changed = new Set<string>()
  for (const key of patch.unset ?? []) {
    if (byKey.delete(key)) changed.add(key)
  }
  for (const [key, value] of Object.entries(patch.variables ?? {})) {
    const before = byKey.get(key)
    if (before?.secret || before?.value !== value) changed.add(key)
    byKey.set(key, { key, secret: false, value, valueEnc: null })
  }
  for (const [key, value] of Object.entries(patch.secrets ?? {})) {
    changed.add(key)
    byKey.set(key, { key, secret: true, value: null, valueEnc: seal(key, value) })
  }
  const entries = [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key))
  return { entries, changed: [...changed].sort() }
}

/** What the API shows: variables with values, secrets by name. */
export function snapshotView(
  version: { id: string; version: number; createdAt: Date } | null,
  entries: StoredEntry[],
): ConfigSnapshot {
  return {
    id: version?.id ?? null,
    version: version?.version ?? 0,
    createdAt: version?.createdAt ?? null,
    variables: entries.filter((e) => !e.secret).map((e) => ({ key: e.key, value: e.value ?? '' })),
    secrets: entries.filter((e) => e.secret).map((e) => ({ key: e.key })),
  }
}

type Reader = Db | Prisma.TransactionClient

export async function latestVersion(db: Reader, environmentId: string) {
  return db.configVersion.findFirst({
    where: { environmentId },
    orderBy: { version: 'desc' },
    include: { entries: true },
  })
}

/** Decrypts a version's entries into the container environment (worker side). */
export function resolveEntries(
  entries: StoredEntry[],
  environmentId: string,
  secrets: SecretBox,
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const entry of entries) {
    env[entry.key] = entry.secret
      ? secrets.decrypt(entry.valueEnc ?? '', secretContext.configSecret(environmentId, entry.key))
      : (entry.value ?? '')
  }
  return env
}
