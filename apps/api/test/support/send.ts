import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import type { App } from '../../src/app.ts'
import type { AppDeps } from '../../src/deps.ts'
import type { PreparedRequest } from './catalog-types.ts'
import { changedTables, dbSnapshot, redisKeys } from './snapshot.ts'

type Method = NonNullable<InjectOptions['method']>

export function send(
  app: App,
  method: string,
  request: PreparedRequest,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: method as Method,
    url: request.url,
    headers,
    ...(request.body === undefined ? {} : { payload: request.body as InjectOptions['payload'] }),
  })
}

/** What a request changed: tables of the database and Redis keys (queues, jobs). */
export async function watchChanges(
  deps: Pick<AppDeps, 'db' | 'redis' | 'redisPrefix'>,
): Promise<() => Promise<string[]>> {
  const [tables, keys] = await Promise.all([dbSnapshot(deps.db), redisKeys(deps.redis, deps.redisPrefix)])
  return async () => {
    const [tablesAfter, keysAfter] = await Promise.all([
      dbSnapshot(deps.db),
      redisKeys(deps.redis, deps.redisPrefix),
    ])
    const added = keysAfter.filter((key) => !keys.includes(key)).map((key) => `redis key ${key} added`)
    const removed = keys.filter((key) => !keysAfter.includes(key)).map((key) => `redis key ${key} removed`)
    return [...changedTables(tables, tablesAfter), ...added, ...removed]
  }
}

/** `403 FORBIDDEN: message` for reports. */
export function describeResponse(response: LightMyRequestResponse): string {
  let code = ''
  try {
    const body = response.json() as { error?: { code?: string; message?: string } }
    code = body.error ? `${body.error.code}: ${body.error.message}` : ''
  } catch {
    code = response.body.slice(0, 120)
  }
  return `${response.statusCode} ${code}`.trim()
}
