import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { DockerHostPool, hostRecordFromRow } from '@slipway/docker'
import { integrationTest } from '@slipway/testing'
import { type App, type AppOptions, buildApp } from './app.ts'
import type { AppDeps } from './deps.ts'

/** `integrationTest` plus the API built over the test's own database and Redis. */
export const apiTest = integrationTest.extend<{ deps: AppDeps; app: App; appOptions: AppOptions }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take their dependencies by destructuring
  appOptions: async ({}, use) => {
    await use({})
  },
  deps: async ({ db, redis }, use) => {
    const secrets = createSecretBox(parseKeyring(generateKeySpec('test')))
    await use({
      db,
      redis,
      secrets,
      hosts: new DockerHostPool(),
      hostRecord: (row) => hostRecordFromRow(row, (envelope, context) => secrets.decrypt(envelope, context)),
      logger: createLogger({ name: 'api-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    })
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
