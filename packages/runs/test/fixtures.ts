import { createLogger } from '@slipway/core'
import { createDb, type Db, type Project } from '@slipway/db'
import { integrationTest } from '@slipway/testing'
import type { Redis } from 'ioredis'
import { eventsKey, publishEvents } from '../src/events.ts'
import type { Change } from '../src/pipelines/transitions.ts'
import { createRuns, type Runs } from '../src/runs.ts'

export interface World {
  project: Project
  staging: { id: string; name: string; replicas: number }
  production: { id: string; name: string; replicas: number }
}

/** A project with a build host and two environments (staging, then production). */
export async function makeWorld(db: Db, options: { supersedeQueued?: boolean } = {}): Promise<World> {
  const buildHost = await db.host.upsert({
    where: { name: 'build-1' },
    create: { name: 'build-1', endpoint: 'tcp://10.9.9.1:2376', address: '10.9.9.1', agentGroup: 'default' },
    update: {},
  })
  const project = await db.project.create({
    data: {
      slug: `p${Math.random().toString(36).slice(2, 8)}`,
      name: 'Demo',
      gitUrl: 'https://git.example.invalid/demo.git',
      appSpec: {},
      imageRepository: 'demo',
      supersedeQueued: options.supersedeQueued ?? true,
      hostGrants: { create: { hostId: buildHost.id } },
    },
  })
  const staging = await db.environment.create({
    data: { projectId: project.id, name: 'staging', position: 0 },
  })
  const production = await db.environment.create({
    data: { projectId: project.id, name: 'production', position: 1 },
  })
  return { project, staging, production }
}

/**
 * The lifecycle over a database (another pool plays another process); what it publishes goes
 * to the real Redis event stream and, when given, into `published`.
 */
export function lifecycleOver(db: Db, redis: Redis, prefix: string, published: Change[] = []): Runs {
  return createRuns({
    db,
    publish: async (change) => {
      published.push(change)
      await publishEvents(redis, prefix, change.projectId, change.events)
    },
    log: createLogger({ name: 'runs-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  })
}

/** The lifecycle over the test's database; what it published lands in the real Redis event stream. */
export const runsTest = integrationTest.extend<{
  runs: Runs
  /** The lifecycle in a second database pool: another process racing this test's `runs`. */
  second: Runs
  published: Change[]
  world: World
  /** The run events published for the world's project, oldest first. */
  events: () => Promise<Record<string, unknown>[]>
}>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take their dependencies by destructuring
  published: async ({}, use) => {
    await use([])
  },
  runs: async ({ db, redis, redisPrefix, published }, use) => {
    await use(lifecycleOver(db, redis, redisPrefix, published))
  },
  second: async ({ databaseUrl, redis, redisPrefix }, use) => {
    const other = createDb({ url: databaseUrl, poolSize: 5 })
    try {
      await use(lifecycleOver(other, redis, redisPrefix))
    } finally {
      await other.$disconnect()
    }
  },
  world: async ({ db }, use) => {
    await use(await makeWorld(db))
  },
  events: async ({ redis, redisPrefix, world }, use) => {
    await use(async () => {
      const entries = await redis.xrange(eventsKey(redisPrefix, world.project.id), '-', '+')
      return entries.map(([, fields]) => JSON.parse(fields[1] ?? '{}') as Record<string, unknown>)
    })
  },
})

/** A pipeline of the world's project on `ref` (build, push, deploy staging, deploy production). */
export function newPipeline(runs: Runs, world: World, ref = 'main') {
  return runs.createPipeline({ project: world.project, ref, commitSha: 'a'.repeat(40), trigger: 'manual' })
}

/** A pipeline advanced to its queued build stage. */
export async function queuedBuild(db: Db, runs: Runs, world: World, ref = 'main') {
  const pipeline = await newPipeline(runs, world, ref)
  await runs.advancePipeline(pipeline.id)
  return db.stage.findFirstOrThrow({ where: { pipelineId: pipeline.id, kind: 'build' } })
}
