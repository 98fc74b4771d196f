import type { App } from '../../src/app.ts'
import { casesOf } from './catalog.ts'
import type { CaseContext } from './catalog-types.ts'
import { discoverRoutes, pathParams, type RouteInfo, routeKey } from './routes.ts'

/** A query parameter as the OpenAPI document (so the zod contract) describes it. */
export interface QueryParam {
  name: string
  type?: string
  format?: string
  enum?: unknown[]
  minimum?: number
  maximum?: number
  maxLength?: number
}

/** What the fuzz test knows about a route: its inputs, from the app and its document. */
export interface RouteModel extends RouteInfo {
  key: string
  params: string[]
  /** Values that name existing things, by parameter; undefined if one is unknown. */
  existing: Record<string, string> | undefined
  query: QueryParam[]
  /** `strict`: a JSON object that refuses unknown fields. */
  body: 'strict' | 'open' | 'none'
  /** A body the route accepts (from the permission catalog), to mangle. */
  validBody: Record<string, unknown> | undefined
  required: string[]
  /** Answers with a stream (Server-Sent Events) rather than JSON. */
  stream: boolean
}

interface Schema {
  type?: string
  format?: string
  enum?: unknown[]
  minimum?: number
  maximum?: number
  maxLength?: number
  required?: string[]
  additionalProperties?: unknown
}
interface Operation {
  parameters?: { name: string; in: string; schema?: Schema }[]
  requestBody?: { content?: Record<string, { schema?: Schema }> }
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>
}

/** Ids and names that exist in the fuzzed database. */
export interface Existing {
  project: { id: string; slug: string }
  environment: string
  userId: string
  tokenId: string
  hostId: string
  registryId: string
  pipelineId: string
  stageId: string
  hookId: string
  /** The name of the world's host (instance routes name hosts by name). */
  hostName: string
}

/** Existing value for a parameter: by name, or for `:id` by the collection it follows. */
function existingValue(url: string, name: string, e: Existing): string | undefined {
  const byName: Record<string, string> = {
    project: e.project.slug,
    projectId: e.project.id,
    environment: e.environment,
    userId: e.userId,
    stageId: e.stageId,
    host: e.hostName,
    // A container id in the right shape; no container has it.
    containerId: 'ab'.repeat(32),
  }
  if (byName[name]) return byName[name]
  if (name !== 'id') return undefined
  const collection = url.split('/:id')[0]?.split('/').at(-1)
  const byCollection: Record<string, string> = {
    tokens: e.tokenId,
    users: e.userId,
    hosts: e.hostId,
    registries: e.registryId,
    pipelines: e.pipelineId,
    stages: e.stageId,
    'notification-hooks': e.hookId,
  }
  return collection ? byCollection[collection] : undefined
}

/** Bodies for the routes outside the permission catalog. */
const extraBodies: Record<string, Record<string, unknown>> = {
  'POST /api/auth/setup': { email: 'root@example.com', name: 'Root', password: 'a long enough password' },
  'POST /api/auth/login': { email: 'root@example.com', password: 'a long enough password' },
}

const openApiPath = (url: string) => url.replaceAll(/:([A-Za-z0-9_]+)/g, '{$1}')

export async function routeModels(app: App, ctx: CaseContext, existing: Existing): Promise<RouteModel[]> {
  const doc = app.swagger() as { paths?: Record<string, Record<string, Operation>> }
  const models: RouteModel[] = []
  for (const route of discoverRoutes(app)) {
    if (route.url.includes('*')) continue
    const key = routeKey(route)
    const operation = doc.paths?.[openApiPath(route.url)]?.[route.method.toLowerCase()]
    const params = pathParams(route.url)
    const values = params.map((name) => [name, existingValue(route.url, name, existing)] as const)
    const bodySchema = operation?.requestBody?.content?.['application/json']?.schema
    const success = Object.entries(operation?.responses ?? {}).find(([status]) => status.startsWith('2'))
    const prepared = await casesOf(key)[0]?.prepare(ctx, 'instance-admin')
    models.push({
      ...route,
      key,
      params,
      existing: values.every(([, v]) => v !== undefined)
        ? (Object.fromEntries(values) as Record<string, string>)
        : undefined,
      query: (operation?.parameters ?? [])
        .filter((p) => p.in === 'query')
        .map((p) => ({ name: p.name, ...p.schema })),
      body: !bodySchema
        ? 'none'
        : bodySchema.type === 'object' && bodySchema.additionalProperties === false
          ? 'strict'
          : 'open',
      validBody: (prepared?.body as Record<string, unknown> | undefined) ?? extraBodies[key],
      required: bodySchema?.required ?? [],
      stream: Boolean(operation) && route.method === 'GET' && !success?.[1].content?.['application/json'],
    })
  }
  return models
}
