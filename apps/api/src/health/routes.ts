import { type CheckResult, ReadinessResponse } from '@slipway/contracts'
import { errorMessage } from '@slipway/core'
import { pingDb } from '@slipway/db'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'

const checkTimeoutMs = 3000

async function check(name: string, fn: (signal: AbortSignal) => Promise<unknown>): Promise<CheckResult> {
  const started = performance.now()
  const signal = AbortSignal.timeout(checkTimeoutMs)
  try {
    await Promise.race([
      fn(signal),
      new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error(`no answer within ${checkTimeoutMs} ms`))),
      ),
    ])
    return { name, ok: true, latencyMs: Math.round(performance.now() - started) }
  } catch (error) {
    return { name, ok: false, latencyMs: Math.round(performance.now() - started), error: errorMessage(error) }
  }
}

/** `/healthz`: the process is up. `/readyz`: every dependency answers (503 names the failing ones). */
export function healthRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/healthz',
      { schema: { hide: true, response: { 200: z.object({ ok: z.literal(true) }) } } },
      async () => ({ ok: true as const }),
    )

    app.get(
      '/readyz',
      { schema: { hide: true, response: { 200: ReadinessResponse, 503: ReadinessResponse } } },
      async (_request, reply) => {
        const [postgres, redis, hosts] = await Promise.all([
          check('postgres', () => pingDb(deps.db)),
          check('redis', () => deps.redis.ping()),
          deps.db.host.findMany({ orderBy: { name: 'asc' } }).catch(() => []),
        ])
        const hostChecks = await Promise.all(
          hosts.map((host) =>
            check(`host:${host.name}`, (signal) => deps.hosts.get(deps.hostRecord(host)).ping({ signal })),
          ),
        )
        const checks = [postgres, redis, ...hostChecks]
        const ready = checks.every((item) => item.ok)
        return reply.status(ready ? 200 : 503).send({ ready, checks })
      },
    )
  }
}
