import { randomBytes } from 'node:crypto'
import { createDb, type Db } from '@slipway/db'
import { Redis } from 'ioredis'
import { test as base } from 'vitest'
import { dockerClient, type Fleet, fleet } from './fleet.ts'
import { createTestDatabase } from './postgres.ts'

export interface IntegrationFixtures {
  /** The local fleet's addresses and credentials. */
  fleet: Fleet
  /** A fresh database with the current schema, dropped after the test. */
  databaseUrl: string
  /** A Prisma client on `databaseUrl`. */
  db: Db
  /** A unique key prefix for this test's Redis keys and BullMQ queues; removed after. */
  redisPrefix: string
  /** A Redis connection (closed after the test). */
  redis: Redis
  /** A unique label value: containers labelled `slipway.test=<testId>` are removed after. */
  testId: string
}

/**
 * Vitest fixtures over the real fleet. Each is created only when a test asks for it, and
 * cleaned up after: a fresh database per test, unique Redis prefixes, labelled containers.
 */
export const integrationTest = base.extend<IntegrationFixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take their dependencies by destructuring
  fleet: async ({}, use) => {
    await use(fleet())
  },
  // biome-ignore lint/correctness/noEmptyPattern: see above
  databaseUrl: async ({}, use) => {
    const database = await createTestDatabase()
    try {
      await use(database.url)
    } finally {
      await database.drop()
    }
  },
  db: async ({ databaseUrl }, use) => {
    const db = createDb({ url: databaseUrl, poolSize: 5 })
    try {
      await use(db)
    } finally {
      await db.$disconnect()
    }
  },
  // biome-ignore lint/correctness/noEmptyPattern: see above
  redisPrefix: async ({}, use) => {
    const prefix = `t${randomBytes(5).toString('hex')}`
    try {
      await use(prefix)
    } finally {
      await deleteKeys(`${prefix}*`)
    }
  },
  // biome-ignore lint/correctness/noEmptyPattern: see above
  redis: async ({}, use) => {
    const redis = new Redis(fleet().redisUrl, { maxRetriesPerRequest: null })
    try {
      await use(redis)
    } finally {
      redis.disconnect()
    }
  },
  // biome-ignore lint/correctness/noEmptyPattern: see above
  testId: async ({}, use) => {
    const id = randomBytes(5).toString('hex')
    try {
      await use(id)
    } finally {
      await removeLabelledContainers(id)
    }
  },
})

async function deleteKeys(pattern: string): Promise<void> {
  const redis = new Redis(fleet().redisUrl)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

/** Removes every container labelled slipway.test=<id> on every fleet host. */
async function removeLabelledContainers(id: string): Promise<void> {
  await Promise.all(
    Object.keys(fleet().hosts).map(async (name) => {
      const docker = dockerClient(name)
      const rows = await docker.listContainers({ all: true, filters: { label: [`slipway.test=${id}`] } })
      await Promise.all(
        rows.map((row) =>
          docker
            .getContainer(row.Id)
            .remove({ force: true })
            .catch(() => undefined),
        ),
      )
    }),
  )
}
