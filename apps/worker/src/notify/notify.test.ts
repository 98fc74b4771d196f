import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { jobCatalog } from '@slipway/contracts'
import { createLogger, createSecretBox, generateKeySpec, parseKeyring } from '@slipway/core'
import { secretContext } from '@slipway/db'
import { integrationTest } from '@slipway/testing'
import type { Job } from 'bullmq'
import { describe, expect, onTestFinished } from 'vitest'
import { createWorkerDeps, type WorkerDeps } from '../deps.ts'
import { startQueueWorker } from '../runtime.ts'
import { reportCommitStatus } from './gitlab.ts'
import { deliverNotification } from './webhooks.ts'

const huge = 64 * 1024 * 1024

interface Seen {
  url: string
  headers: IncomingHttpHeaders
  body: string
}

/**
 * The receiving end we cannot run here (a webhook target, GitLab's commit status API): a
 * local HTTP server that records every request and answers with `answers` in turn (the last
 * one repeats). `huge` answers stream 64 MiB and note whether all of it was taken.
 */
async function fakeReceiver(answers: Array<{ status: number; body?: string; huge?: boolean }>) {
  const seen: Seen[] = []
  const streams: Array<Promise<'finished' | 'closed early'>> = []
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      seen.push({ url: request.url ?? '', headers: request.headers, body })
      const answer = answers[Math.min(seen.length, answers.length) - 1] ?? { status: 200 }
      if (answer.huge) streams.push(streamHuge(response, answer.status))
      else response.writeHead(answer.status).end(answer.body ?? '')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  onTestFinished(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, streams }
}

/** Writes 64 MiB as fast as the client takes it: 'finished' if it took all, else 'closed early'. */
function streamHuge(response: ServerResponse, status: number): Promise<'finished' | 'closed early'> {
  response.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(huge) })
  const chunk = Buffer.alloc(64 * 1024, 'x')
  let written = 0
  const pump = () => {
    while (written < huge && !response.destroyed) {
      written += chunk.length
      const more = response.write(chunk)
      if (written >= huge) response.end()
      if (!more) return void response.once('drain', pump)
    }
  }
  pump()
  return new Promise((resolve) => {
    response.once('finish', () => resolve('finished'))
    response.once('close', () => resolve(response.writableFinished ? 'finished' : 'closed early'))
  })
}

const test = integrationTest.extend<{ deps: WorkerDeps; lines: string[] }>({
  lines: async ({ task: _task }, use) => {
    await use([])
  },
  deps: async ({ db, redis, redisPrefix, lines }, use) => {
    const logger = createLogger({
      name: 'notify-test',
      level: 'info',
      destination: { write: (line: string) => void lines.push(line) },
    })
    await use(
      createWorkerDeps({
        db,
        redis,
        prefix: redisPrefix,
        secrets: createSecretBox(parseKeyring(generateKeySpec())),
        logger,
        workerId: 'w-notify-test',
        workDir: '/tmp/slipway-notify-test',
      }),
    )
  },
})

async function aDelivery(deps: WorkerDeps, url: string) {
  const project = await deps.db.project.create({
    data: {
      slug: `n-${Math.random().toString(16).slice(2, 8)}`,
      name: 'notify',
      gitUrl: 'file:///x.git',
      imageRepository: 'x/y',
      appSpec: {},
    },
  })
  const hook = await deps.db.notificationHook.create({
    data: { projectId: project.id, url, secretEnc: 'pending' },
  })
  await deps.db.notificationHook.update({
    where: { id: hook.id },
    data: { secretEnc: deps.secrets.encrypt('hook-secret', secretContext.notificationHookSecret(hook.id)) },
  })
  return deps.db.notificationDelivery.create({
    data: {
      hookId: hook.id,
      event: 'pipeline.success',
      status: 'pending',
      payload: { event: 'pipeline.success' },
    },
  })
}

const context = (deps: WorkerDeps, attemptsMade = 0) => ({
  job: { attemptsMade, opts: { attempts: jobCatalog['notify.deliver'].attempts } } as Job,
  token: undefined,
  signal: AbortSignal.timeout(60_000),
  log: deps.logger,
})

async function until(check: () => Promise<boolean>) {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50))
}

describe('outgoing webhooks', () => {
  test('read at most 64 KiB of an answer and close the connection on the rest', async ({ deps }) => {
    const receiver = await fakeReceiver([{ status: 200, huge: true }])
    const delivery = await aDelivery(deps, receiver.url)
    expect(await deliverNotification(deps)({ deliveryId: delivery.id }, context(deps))).toEqual({
      status: 200,
    })
    expect(await Promise.all(receiver.streams)).toEqual(['closed early'])
    expect(
      await deps.db.notificationDelivery.findUniqueOrThrow({ where: { id: delivery.id } }),
    ).toMatchObject({
      status: 'delivered',
      responseStatus: 200,
      attempts: 1,
    })
  })

  test('are tried again after 5xx and network errors, each failure logged, until delivered', async ({
    deps,
    lines,
  }) => {
    const receiver = await fakeReceiver([{ status: 503, body: 'busy' }, { status: 502 }, { status: 204 }])
    const delivery = await aDelivery(deps, receiver.url)
    const worker = startQueueWorker({
      queue: 'notifications',
      connection: deps.redis,
      prefix: deps.prefix,
      processors: { 'notify.deliver': deliverNotification(deps) },
      concurrency: 1,
      logger: deps.logger,
      workerId: 'w-notify-test',
    })
    onTestFinished(() => worker.close(1000))
    // The catalog's attempts, with a short fixed backoff to keep the test quick.
    await deps.queues.add(
      'notify.deliver',
      { deliveryId: delivery.id },
      { backoff: { type: 'fixed', delay: 10 } },
    )
    await until(async () => {
      const row = await deps.db.notificationDelivery.findUniqueOrThrow({ where: { id: delivery.id } })
      return row.status !== 'pending'
    })
    expect(
      await deps.db.notificationDelivery.findUniqueOrThrow({ where: { id: delivery.id } }),
    ).toMatchObject({
      status: 'delivered',
      responseStatus: 204,
      attempts: 3,
    })
    expect(receiver.seen).toHaveLength(3)
    expect(receiver.seen[0]?.headers['x-slipway-delivery']).toBe(delivery.id)
    const failures = lines
      .map((line) => JSON.parse(line))
      .filter((l) => l.msg.startsWith('outgoing webhook failed'))
    expect(failures.map((l) => [l.status, l.attempt, l.willRetry])).toEqual([
      [503, 1, true],
      [502, 2, true],
    ])
    expect(failures[0].msg).toBe('outgoing webhook failed: answered 503: busy')
  })

  test('fail at once when the receiver refuses (4xx): no retry', async ({ deps }) => {
    const refusing = await fakeReceiver([{ status: 404, body: 'no such hook' }])
    const delivery = await aDelivery(deps, refusing.url)
    await expect(deliverNotification(deps)({ deliveryId: delivery.id }, context(deps))).rejects.toMatchObject(
      {
        code: 'PRECONDITION_FAILED',
      },
    )
    expect(
      await deps.db.notificationDelivery.findUniqueOrThrow({ where: { id: delivery.id } }),
    ).toMatchObject({
      status: 'failed',
      responseStatus: 404,
      error: 'answered 404: no such hook',
    })
    // A server error and an unreachable receiver stay pending for the next try.
    const busy = await fakeReceiver([{ status: 500 }])
    const second = await aDelivery(deps, busy.url)
    await expect(deliverNotification(deps)({ deliveryId: second.id }, context(deps))).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
    })
    const third = await aDelivery(deps, 'http://127.0.0.1:1/hook')
    await expect(deliverNotification(deps)({ deliveryId: third.id }, context(deps))).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
    })
    const rows = await deps.db.notificationDelivery.findMany({ where: { id: { in: [second.id, third.id] } } })
    expect(rows.map((row) => row.status)).toEqual(['pending', 'pending'])
  })

  test('pipeline events are fanned out with retries (notify.pipeline is not tried once only)', () => {
    expect(jobCatalog['notify.pipeline'].attempts).toBeGreaterThanOrEqual(3)
    expect(jobCatalog['notify.deliver'].attempts).toBeGreaterThanOrEqual(3)
  })
})

describe('GitLab commit statuses', () => {
  async function aPipeline(deps: WorkerDeps, baseUrl: string) {
    const project = await deps.db.project.create({
      data: {
        slug: `g-${Math.random().toString(16).slice(2, 8)}`,
        name: 'gitlab',
        gitUrl: 'file:///x.git',
        imageRepository: 'x/y',
        appSpec: {},
        gitlabBaseUrl: baseUrl,
        gitlabProject: 'team/app',
        gitlabTokenEnc: 'pending',
      },
    })
    await deps.db.project.update({
      where: { id: project.id },
      data: {
        gitlabTokenEnc: deps.secrets.encrypt('glpat-test', secretContext.projectGitlabToken(project.id)),
      },
    })
    return deps.db.pipeline.create({
      data: { projectId: project.id, number: 1, ref: 'main', commitSha: 'a'.repeat(40), trigger: 'manual' },
    })
  }

  test('a huge error answer is read only in part; a refused token fails at once', async ({ deps }) => {
    const gitlab = await fakeReceiver([
      { status: 500, huge: true },
      { status: 401, body: '{"message":"401 Unauthorized"}' },
    ])
    const pipeline = await aPipeline(deps, gitlab.url)
    const report = reportCommitStatus(deps, 'https://slipway.example.com')
    const run = () => report({ pipelineId: pipeline.id, state: 'running' }, context(deps))
    const first = await run().catch((error: unknown) => error)
    expect(first).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' })
    expect((first as Error).message).toBe(
      `GitLab answered 500 to the running commit status: ${'x'.repeat(200)}`,
    )
    expect(await Promise.all(gitlab.streams)).toEqual(['closed early'])
    await expect(run()).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' })
    expect(gitlab.seen.map((request) => request.url)).toEqual([
      `/api/v4/projects/team%2Fapp/statuses/${'a'.repeat(40)}`,
      `/api/v4/projects/team%2Fapp/statuses/${'a'.repeat(40)}`,
    ])
    expect(gitlab.seen[0]?.headers['private-token']).toBe('glpat-test')
    expect(new URLSearchParams(gitlab.seen[0]?.body).get('state')).toBe('running')
  })
})
