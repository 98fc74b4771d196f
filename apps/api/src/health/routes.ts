import { type CheckResult, ReadinessResponse } from '@slipway/contracts'
import { errorMessage } from '@slipway/core'
import { pingDb } from '@slipway/db'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppDeps } from '../deps.ts'

const checkTimeoutMs = 3000
/** Docker hosts are pinged at most this often per API process, however often /readyz is asked. */
const hostChecksCacheMs = 10_000

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

/**
 * `/healthz`: the process is up. `/readyz`: ready or not from the cheap checks (PostgreSQL,
 * Redis), for load balancers and anyone; an instance administrator also sees every Docker
 * host and each failure's error (hosts pinged at most every 10 s, shared by all callers).
 */
export function healthRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  let hostChecks: { at: number; results: Promise<CheckResult[]> } | undefined

  async function checkHosts(): Promise<CheckResult[]> {
    const hosts = await deps.db.host.findMany({ orderBy: { name: 'asc' } })
    return Promise.all(
      hosts.map((host) =>
        check(`host:${host.name}`, (signal) => deps.hosts.get(deps.hostRecord(host)).ping({ signal })),
      ),
    )
  }

  function cachedHostChecks(): Promise<CheckResult[]> {
    if (!hostChecks || Date.now() - hostChecks.at >= hostChecksCacheMs) {
      const results = checkHosts().catch((error: unknown) => [
        { name: 'hosts', ok: false, latencyMs: 0, error: `could not list the hosts: ${errorMessage(error)}` },
      ])
      hostChecks = { at: Date.now(), results }
    }
    return hostChecks.results
  }

  return async (app) => {
    app.get(
      '/healthz',
      { schema: { hide: true, response: { 200: z.object({ ok: z.literal(true) }) } } },
      async () => ({ ok: true as const }),
    )

    app.get(
      '/readyz',
      { schema: { hide: true, response: { 200: ReadinessResponse, 503: ReadinessResponse } } },
      async (request, reply) => {
        const admin = request.actor?.user.isAdmin === true
        const [postgres, redis] = await Promise.all([
          check('postgres', () => pingDb(deps.db)),
          check('redis', () => deps.redis.ping()),
        ])
        const cheap = [postgres, redis]
        const ready = cheap.every((item) => item.ok)
        if (!admin) {
          // Names and ok only: no error text, no host, to the public.
          const checks = cheap.map(({ name, ok, latencyMs }) => ({ name, ok, latencyMs }))
          return reply.status(ready ? 200 : 503).send({ ready, checks })
        }
        const checks = [...cheap, ...(postgres.ok ? await cachedHostChecks() : [])]
        const allOk = checks.every((item) => item.ok)
        return reply.status(allOk ? 200 : 503).send({ ready: allOk, checks })
      },
    )
  }
}
