import { Id } from '@slipway/contracts'
import { AppError } from '@slipway/core'
import { eventsKey, logStreamKey } from '@slipway/runs'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { currentActor, requireActor } from '../auth/actor.ts'
import type { AppDeps } from '../deps.ts'
import { requireProject } from '../http/access.ts'
import { storedLines, terminalStageStatuses } from '../pipelines/logs.ts'
import type { ApiSettings } from '../settings.ts'
import { StreamGate } from './gate.ts'
import { type Entry, StreamHub, type Subscription } from './hub.ts'
import { type EventStream, openEventStream } from './stream.ts'

type Line = [number, number, string]

const batchLines = 500
const keepAliveMs = 15_000

function lastEventId(request: FastifyRequest, fallback: number): number {
  const header = request.headers['last-event-id']
  const value = Number(Array.isArray(header) ? header[0] : header)
  return Number.isInteger(value) && value >= 0 ? value : fallback
}

function payload(entry: Entry): string {
  return entry[1][1] ?? ''
}

/**
 * The live streams (SSE): a project's run events and a stage's live log. All of a process's
 * streams read Redis through one shared connection (StreamHub); each user may hold
 * `streamsPerUser` open and the process `streamsTotal`; every `streamAccessCheckMs` a stream
 * checks again that its reader may still read it (session or token alive, user enabled,
 * still a member) and ends with an `access-ended` event when not.
 */
export function liveRoutes(deps: AppDeps, settings: ApiSettings): FastifyPluginAsyncZod {
  const hub = new StreamHub(deps.redis, deps.logger, `${deps.redisPrefix}:live`)
  const gate = new StreamGate({ perUser: settings.streamsPerUser, total: settings.streamsTotal })

  /** Whether the request's reader may still read the project; refreshes request.actor. */
  async function stillAllowed(request: FastifyRequest, projectId: string): Promise<boolean> {
    const actor = request.actor ? await currentActor(deps, settings, request.actor) : null
    if (!actor) return false
    request.actor = actor
    try {
      await requireProject(deps, request, projectId, 'project.read')
      return true
    } catch (error) {
      if (error instanceof AppError && ['NOT_FOUND', 'FORBIDDEN', 'UNAUTHENTICATED'].includes(error.code))
        return false
      throw error
    }
  }

  /**
   * Runs `body` on an event stream admitted by the gate; ends the response and releases
   * the slot and subscription however it ends.
   */
  async function serve(
    request: FastifyRequest,
    reply: Parameters<typeof openEventStream>[1],
    projectId: string,
    body: (
      stream: EventStream,
      guard: () => Promise<boolean>,
      keep: (s: Subscription) => void,
    ) => Promise<void>,
  ): Promise<void> {
    const release = gate.admit(requireActor(request).user.id)
    const subscriptions: Subscription[] = []
    let stream: EventStream | undefined
    try {
      stream = openEventStream(request, reply)
      const open = stream
      open.closed.addEventListener('abort', () => {
        for (const subscription of subscriptions) subscription.close()
      })
      let checkedAt = Date.now()
      const guard = async () => {
        if (Date.now() - checkedAt < settings.streamAccessCheckMs) return true
        checkedAt = Date.now()
        if (await stillAllowed(request, projectId)) return true
        await open.send('access-ended', 0, { message: 'your access to this stream has ended; sign in again' })
        request.log.info({ projectId }, 'live stream ended: access gone')
        return false
      }
      await body(open, guard, (subscription) => subscriptions.push(subscription))
    } finally {
      for (const subscription of subscriptions) subscription.close()
      release()
      stream?.raw.end()
    }
  }

  return async (app) => {
    app.addHook('preClose', async () => {
      await hub.close()
    })

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
            'Events: `logs` (data: [[seq, ms, text], ...]; id: the last seq), `status` (the stage status), `end`, ' +
            '`access-ended` (the reader lost access; the stream ends). ' +
            'Send Last-Event-ID (or ?after=seq) to resume after a line.',
        },
      },
      async (request, reply) => {
        const stage = await deps.db.stage.findUnique({
          where: { id: request.params.id },
          include: { pipeline: { select: { projectId: true } } },
        })
        if (!stage) throw new AppError('NOT_FOUND', 'stage not found')
        const projectId = stage.pipeline.projectId
        await requireProject(deps, request, projectId, 'project.read')
        let last = lastEventId(request, request.query.after ?? 0)
        await serve(request, reply, projectId, async (stream, guard, keep) => {
          for (;;) {
            const page = await storedLines(deps.db, stage.id, last, batchLines)
            if (!page.length) break
            last = page.at(-1)![0]
            await stream.send('logs', last, page)
          }
          const subscription = await hub.subscribe(logStreamKey(deps.redisPrefix, stage.id), `0-${last}`)
          keep(subscription)
          let status = ''
          let statusCheckedAt = 0
          while (!stream.closed.aborted && !subscription.closed) {
            if (!(await guard())) return
            if (Date.now() - statusCheckedAt > 1000) {
              statusCheckedAt = Date.now()
              const current = await deps.db.stage.findUnique({
                where: { id: stage.id },
                select: { status: true },
              })
              if (current && current.status !== status) {
                status = current.status
                await stream.send('status', last, { status })
              }
            }
            const lines = (await subscription.next(1000))
              .map((entry) => JSON.parse(payload(entry) || '[]') as Line)
              .filter((line) => line[0] > last)
            if (lines.length) {
              last = lines.at(-1)![0]
              await stream.send('logs', last, lines)
              continue
            }
            if (terminalStageStatuses.has(status)) {
              // The stream may have expired; the database has every line.
              for (;;) {
                const rest = await storedLines(deps.db, stage.id, last, batchLines)
                if (!rest.length || stream.closed.aborted) break
                last = rest.at(-1)![0]
                await stream.send('logs', last, rest)
              }
              await stream.send('end', last, { status })
              return
            }
          }
        })
      },
    )

    /** Pipeline, stage and release status changes of a project, live (SSE, resumable). */
    app.get(
      '/api/projects/:project/events',
      {
        schema: { tags: ['pipelines'], params: z.object({ project: z.string().min(1).max(100) }) },
        config: {
          eventStream:
            'Events: `run` (data: a RunEvent: a pipeline, stage or release status change; id: its stream id), ' +
            '`access-ended` (the reader lost access; the stream ends). Send Last-Event-ID to resume.',
        },
      },
      async (request, reply) => {
        const { project } = await requireProject(deps, request, request.params.project, 'project.read')
        const header = request.headers['last-event-id']
        const from = typeof header === 'string' && /^\d+-\d+$/.test(header) ? header : '$'
        await serve(request, reply, project.id, async (stream, guard, keep) => {
          const subscription = await hub.subscribe(eventsKey(deps.redisPrefix, project.id), from)
          keep(subscription)
          let quietSince = Date.now()
          while (!stream.closed.aborted && !subscription.closed) {
            if (!(await guard())) return
            for (const entry of await subscription.next(1000)) {
              await stream.send('run', entry[0], JSON.parse(payload(entry) || '{}'))
              quietSince = Date.now()
            }
            if (Date.now() - quietSince > keepAliveMs) {
              stream.comment('keep-alive')
              quietSince = Date.now()
            }
          }
        })
      },
    )
  }
}
