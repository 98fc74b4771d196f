import { once } from 'node:events'
import type { ServerResponse } from 'node:http'
import { Id, LogPage, LogQuery } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import type { Db } from '@slipway/db'
import { eventsKey, logStreamKey } from '@slipway/runs'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Redis } from 'ioredis'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'

type Line = [number, number, string]

const terminal = new Set(['succeeded', 'failed', 'canceled', 'skipped'])
const batchLines = 500
const keepAliveMs = 15_000

/** Stored lines with seq > after, in order, at most `limit`. */
async function storedLines(db: Db, stageId: string, after: number, limit: number): Promise<Line[]> {
  const chunks = await db.stageLogChunk.findMany({
    where: { stageId, lastSeq: { gt: after } },
    orderBy: { firstSeq: 'asc' },
    take: Math.ceil(limit / 10) + 2,
  })
  const lines: Line[] = []
  for (const chunk of chunks) {
    for (const line of chunk.lines as Line[]) {
      if (line[0] > after && lines.length < limit) lines.push(line)
    }
    if (lines.length >= limit) break
  }
  return lines
}

/** Opens a Server-Sent Events response that the proxy in front must not buffer. */
function openStream(
  request: FastifyRequest,
  reply: FastifyReply,
): { raw: ServerResponse; closed: AbortSignal } {
  reply.hijack()
  const raw = reply.raw
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  raw.write('retry: 2000\n\n')
  const controller = new AbortController()
  request.raw.on('close', () => controller.abort())
  return { raw, closed: controller.signal }
}

/** Writes one event; waits for the socket to drain first when the client lags (bounded buffer). */
async function send(
  raw: ServerResponse,
  closed: AbortSignal,
  event: string,
  id: string | number,
  data: unknown,
) {
  if (closed.aborted) return
  const ok = raw.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  if (!ok && !closed.aborted) await once(raw, 'drain', { signal: closed }).catch(() => undefined)
}

function lastEventId(request: FastifyRequest, fallback: number): number {
  const header = request.headers['last-event-id']
  const value = Number(Array.isArray(header) ? header[0] : header)
  return Number.isInteger(value) && value >= 0 ? value : fallback
}

/** A dedicated connection for blocking reads (XREAD BLOCK holds its connection). */
function blockingClient(redis: Redis): Redis {
  const client = redis.duplicate({ maxRetriesPerRequest: null })
  client.on('error', () => undefined)
  return client
}

export function logRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  async function stageFor(request: FastifyRequest, stageId: string) {
    const stage = await deps.db.stage.findUnique({
      where: { id: stageId },
      include: { pipeline: { select: { projectId: true } } },
    })
    if (!stage) throw new AppError('NOT_FOUND', 'stage not found')
    await requireProject(deps, request, stage.pipeline.projectId, 'project.read')
    return stage
  }

  return async (app) => {
    app.get(
      '/api/stages/:id/logs',
      {
        schema: {
          tags: ['logs'],
          params: z.object({ id: Id }),
          querystring: LogQuery,
          response: { 200: LogPage },
        },
      },
      async (request) => {
        const stage = await stageFor(request, request.params.id)
        const lines = await storedLines(deps.db, stage.id, request.query.after, request.query.limit)
        const lastSeq = lines.at(-1)?.[0] ?? request.query.after
        const stored = await deps.db.stageLogChunk.aggregate({
          where: { stageId: stage.id },
          _max: { lastSeq: true },
        })
        return {
          lines,
          lastSeq,
          complete: terminal.has(stage.status) && lastSeq >= (stored._max.lastSeq ?? 0),
        }
      },
    )

    /**
     * Live log of a stage over SSE. Events: `logs` (a batch of [seq, ms, text], id = last
     * seq), `status` (the stage's status), `end`. Reconnecting with Last-Event-ID resumes
     * after that line: nothing is lost or repeated.
     */
    app.get(
      '/api/stages/:id/logs/live',
      {
        schema: {
          tags: ['logs'],
          params: z.object({ id: Id }),
          querystring: z.object({ after: z.coerce.number().int().min(0).optional() }),
        },
        config: {
          eventStream:
            'Events: `logs` (data: [[seq, ms, text], ...]; id: the last seq), `status` (the stage status), `end`. ' +
            'Send Last-Event-ID (or ?after=seq) to resume after a line.',
        },
      },
      async (request, reply) => {
        const stage = await stageFor(request, request.params.id)
        let last = lastEventId(request, request.query.after ?? 0)
        const { raw, closed } = openStream(request, reply)
        const client = blockingClient(deps.redis)
        try {
          let status = ''
          for (;;) {
            const page = await storedLines(deps.db, stage.id, last, batchLines)
            if (!page.length) break
            last = page.at(-1)![0]
            await send(raw, closed, 'logs', last, page)
          }
          const key = logStreamKey(deps.redisPrefix, stage.id)
          let lastStatusCheck = 0
          while (!closed.aborted) {
            if (Date.now() - lastStatusCheck > 1000) {
              lastStatusCheck = Date.now()
              const current = await deps.db.stage.findUnique({
                where: { id: stage.id },
                select: { status: true },
              })
              if (current && current.status !== status) {
                status = current.status
                await send(raw, closed, 'status', last, { status })
              }
            }
            const entries = (await client.xread(
              'COUNT',
              batchLines,
              'BLOCK',
              1000,
              'STREAMS',
              key,
              `0-${last}`,
            )) as [string, [string, string[]][]][] | null
            const lines = (entries?.[0]?.[1] ?? [])
              .map(([, fields]) => JSON.parse(fields[1] ?? '[]') as Line)
              .filter((l) => l[0] > last)
            if (lines.length) {
              last = lines.at(-1)![0]
              await send(raw, closed, 'logs', last, lines)
              continue
            }
            if (terminal.has(status)) {
              // The stream may have expired; the database has every line.
              const rest = await storedLines(deps.db, stage.id, last, 100_000)
              if (rest.length) {
                last = rest.at(-1)![0]
                await send(raw, closed, 'logs', last, rest)
              }
              await send(raw, closed, 'end', last, { status })
              break
            }
          }
        } finally {
          client.disconnect()
          raw.end()
        }
      },
    )

    /** Pipeline, stage and release status changes of a project, live (SSE, resumable). */
    app.get(
      '/api/projects/:project/events',
      {
        schema: { tags: ['pipelines'], params: z.object({ project: z.string().min(1).max(100) }) },
        config: {
          eventStream:
            'Events: `run` (data: a RunEvent: a pipeline, stage or release status change; id: its stream id). ' +
            'Send Last-Event-ID to resume.',
        },
      },
      async (request, reply) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        const header = request.headers['last-event-id']
        let last = typeof header === 'string' && /^\d+-\d+$/.test(header) ? header : '$'
        const { raw, closed } = openStream(request, reply)
        const client = blockingClient(deps.redis)
        const key = eventsKey(deps.redisPrefix, project.id)
        let quietSince = Date.now()
        try {
          if (last === '$') {
            // Start after what exists now, with a concrete id so nothing is skipped later.
            const newest = (await client.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][]
            last = newest[0]?.[0] ?? '0-0'
          }
          while (!closed.aborted) {
            const entries = (await client.xread('COUNT', 200, 'BLOCK', 5000, 'STREAMS', key, last)) as
              | [string, [string, string[]][]][]
              | null
            for (const [id, fields] of entries?.[0]?.[1] ?? []) {
              last = id
              await send(raw, closed, 'run', id, JSON.parse(fields[1] ?? '{}'))
              quietSince = Date.now()
            }
            if (Date.now() - quietSince > keepAliveMs && !closed.aborted) {
              raw.write(': keep-alive\n\n')
              quietSince = Date.now()
            }
          }
        } finally {
          client.disconnect()
          raw.end()
        }
      },
    )
  }
}
