import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { createDb, type Db, secretContext } from '@slipway/db'
import { createTestDatabase, integrationTest } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { dbSnapshot } from '../../test/support/snapshot.ts'
import { buildWorld } from '../../test/support/world.ts'
import { backup, keyIdsInUse, restore } from './backup.ts'

const box = createSecretBox(parseKeyring(generateKeySpec('k-backup')))

/** A world with one secret of each kind that sits on an existing row, sealed with k-backup. */
async function plant(db: Db) {
  const world = await buildWorld(db)
  const projectId = world.project.id
  const registry = await db.registry.create({
    data: { name: 'r-backup', url: '127.0.0.1:5999', username: 'u' },
  })
  await db.registry.update({
    where: { id: registry.id },
    data: { passwordEnc: box.encrypt('registry-password', secretContext.registryPassword(registry.id)) },
  })
  await db.project.update({
    where: { id: projectId },
    data: {
      webhookSecretEnc: box.encrypt('hook', secretContext.projectWebhookSecret(projectId)),
      gitlabTokenEnc: box.encrypt('glpat', secretContext.projectGitlabToken(projectId)),
      gitCredentialsEnc: box.encrypt('ci:glpat-git', secretContext.projectGitCredentials(projectId)),
      buildSecrets: {
        NPM_TOKEN: box.encrypt('npm', secretContext.projectBuildSecret(projectId, 'NPM_TOKEN')),
      },
    },
  })
  return { registryId: registry.id }
}

async function workdir(use: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-backup-'))
  try {
    await use(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** A second database, emptied (no tables), dropped after the test. */
const test = integrationTest.extend<{ target: { url: string; db: Db } }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take their dependencies by destructuring
  target: async ({}, use) => {
    const database = await createTestDatabase()
    const db = createDb({ url: database.url, poolSize: 1 })
    await db.$executeRawUnsafe('DROP SCHEMA public CASCADE')
    await db.$executeRawUnsafe('CREATE SCHEMA public')
    try {
      await use({ url: database.url, db })
    } finally {
      await db.$disconnect()
      await database.drop()
    }
  },
})

describe('backup and restore', () => {
  test('round trip: every table comes back as it was, and the secrets open with the same keyring', async ({
    db,
    databaseUrl,
    target,
  }) => {
    const { registryId } = await plant(db)
    await workdir(async (dir) => {
      const file = path.join(dir, 'slipway.dump')
      const made = await backup({ databaseUrl, file })
      expect(made.keys).toEqual({ 'k-backup': 5 })
      expect(made.bytes).toBeGreaterThan(0)
      expect(await readdir(dir)).toEqual(['slipway.dump'])

      const restored = await restore({ databaseUrl: target.url, file, keyIds: ['k-backup'] })
      expect(restored).toMatchObject({ keys: { 'k-backup': 5 }, missingKeys: [] })
      expect(await dbSnapshot(target.db)).toEqual(await dbSnapshot(db))
      const registry = await target.db.registry.findUniqueOrThrow({ where: { id: registryId } })
      expect(box.decrypt(registry.passwordEnc ?? '', secretContext.registryPassword(registryId))).toBe(
        'registry-password',
      )
    })
  })

  test('a non-empty database is refused without --replace, and left as it was', async ({
    db,
    databaseUrl,
  }) => {
    await plant(db)
    await workdir(async (dir) => {
      const file = path.join(dir, 'slipway.dump')
      await backup({ databaseUrl, file })
      const before = await dbSnapshot(db)
      await expect(restore({ databaseUrl, file, keyIds: ['k-backup'] })).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringContaining('--replace'),
      })
      expect(await dbSnapshot(db)).toEqual(before)
    })
  })

  test('--replace drops what is there: later changes are gone, the backup is back', async ({
    db,
    databaseUrl,
  }) => {
    await plant(db)
    await workdir(async (dir) => {
      const file = path.join(dir, 'slipway.dump')
      await backup({ databaseUrl, file })
      const atBackup = await dbSnapshot(db)
      await db.registry.create({ data: { name: 'made-after-the-backup', url: '127.0.0.1:5998' } })
      await restore({ databaseUrl, file, keyIds: ['k-backup'], replace: true })
      // The restore ran on other connections: a fresh client sees the restored tables.
      const fresh = createDb({ url: databaseUrl, poolSize: 1 })
      try {
        expect(await dbSnapshot(fresh)).toEqual(atBackup)
      } finally {
        await fresh.$disconnect()
      }
    })
  })

  test('a keyring without the key that sealed the secrets fails the restore, naming the key', async ({
    db,
    databaseUrl,
    target,
  }) => {
    await plant(db)
    await workdir(async (dir) => {
      const file = path.join(dir, 'slipway.dump')
      await backup({ databaseUrl, file })
      await expect(restore({ databaseUrl: target.url, file, keyIds: ['k-new'] })).rejects.toMatchObject({
        code: 'PRECONDITION_FAILED',
        message: expect.stringContaining('"k-backup", which sealed 5 stored secrets'),
        details: { missingKeys: ['k-backup'] },
      })
      expect(Object.fromEntries(await keyIdsInUse(target.db))).toEqual({ 'k-backup': 5 })
    })
  })

  test('a missing file or a failing pg_dump says why, and leaves no file behind', async ({
    databaseUrl,
    target,
  }) => {
    await workdir(async (dir) => {
      await expect(
        restore({ databaseUrl: target.url, file: path.join(dir, 'none.dump'), keyIds: [] }),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' })
      const broken = databaseUrl.replace(/\/[^/?]+(\?|$)/, '/no_such_database$1')
      await expect(backup({ databaseUrl: broken, file: path.join(dir, 'x.dump') })).rejects.toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        message: expect.stringContaining('no_such_database'),
      })
      expect(await readdir(dir)).toEqual([])
    })
  })
})
