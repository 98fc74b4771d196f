import { randomBytes } from 'node:crypto'
import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { integrationTest } from '@slipway/testing'
import { type App, type AppOptions, buildApp } from '../../src/app.ts'
import { sha256 } from '../../src/auth/crypto.ts'
import { type AppDeps, createAppDeps } from '../../src/deps.ts'

/** `integrationTest` plus the API built over the test's own database and Redis. */
export const apiTest = integrationTest.extend<{ deps: AppDeps; app: App; appOptions: AppOptions }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take their dependencies by destructuring
  appOptions: async ({}, use) => {
    await use({})
  },
  deps: async ({ db, redis, redisPrefix }, use) => {
    const deps = createAppDeps({
      db,
      redis,
      redisPrefix,
      secrets: createSecretBox(parseKeyring(generateKeySpec('test'))),
      logger: createLogger({ name: 'api-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    })
    try {
      await use(deps)
    } finally {
      await deps.close()
    }
  },
  app: async ({ deps, appOptions }, use) => {
    const app = await buildApp(deps, appOptions)
    await app.ready()
    try {
      await use(app)
    } finally {
      await app.close()
    }
  },
})

export interface TestUser {
  id: string
  email: string
  /** Authorization header for an API token of this user. */
  headers: { authorization: string }
}

let counter = 0

/** A user (optionally an instance admin, optionally a member of a project) with an API token. */
export async function makeUser(
  db: AppDeps['db'],
  options: {
    isAdmin?: boolean
    projectId?: string
    role?: 'admin' | 'maintainer' | 'developer' | 'tester' | 'viewer'
  } = {},
): Promise<TestUser> {
  counter++
  const email = `user${counter}-${randomBytes(3).toString('hex')}@example.com`
  const user = await db.user.create({
    data: { email, name: `User ${counter}`, passwordHash: 'unusable', isAdmin: options.isAdmin ?? false },
  })
  if (options.projectId && options.role) {
    await db.membership.create({
      data: { userId: user.id, projectId: options.projectId, role: options.role },
    })
  }
  const token = `slp_test_${randomBytes(16).toString('hex')}`
  await db.apiToken.create({
    data: { userId: user.id, name: 'test', prefix: token.slice(0, 10), tokenHash: sha256(token) },
  })
  return { id: user.id, email, headers: { authorization: `Bearer ${token}` } }
}

/** The demo-shaped project used by API tests, created directly in the database. */
export async function makeProject(
  db: AppDeps['db'],
  overrides: Partial<{ slug: string; gitUrl: string }> = {},
) {
  return db.project.create({
    data: {
      slug: overrides.slug ?? `p-${randomBytes(3).toString('hex')}`,
      name: 'Test project',
      gitUrl: overrides.gitUrl ?? 'file:///nonexistent.git',
      imageRepository: 'test/app',
      appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
    },
  })
}
