import type { App } from '../../src/app.ts'

export interface RouteInfo {
  method: string
  /** Fastify's path, params as `:name` (e.g. `/api/projects/:project`). */
  url: string
}

export const mutatingMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** `POST /api/projects/:project/pipelines`: the key of a route in matrices and catalogs. */
export const routeKey = (route: RouteInfo): string => `${route.method} ${route.url}`

const treeCharacters = new Set(['│', '├', '└', '─', ' '])
const lineShape = /^(?<segment>.*) \((?<methods>[^)]*)\)$/

/**
 * Every route the running app serves, read from `app.printRoutes()` (the router's own tree:
 * each level is indented by four columns, a node's path is its ancestors' segments joined).
 * HEAD routes Fastify adds next to GET ones are left out.
 */
export function discoverRoutes(app: App): RouteInfo[] {
  const routes: RouteInfo[] = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    let start = 0
    while (start < line.length && treeCharacters.has(line.charAt(start))) start++
    const match = lineShape.exec(line.slice(start))
    if (!match?.groups) continue
    const depth = Math.floor(start / 4)
    stack.length = depth
    stack.push(match.groups.segment ?? '')
    const url = stack.join('')
    for (const method of (match.groups.methods ?? '').split(',').map((m) => m.trim())) {
      if (method && method !== '-' && method !== 'HEAD') routes.push({ method, url })
    }
  }
  return routes.sort((a, b) => routeKey(a).localeCompare(routeKey(b)))
}

/** OpenAPI paths (`/api/projects/{project}`) in Fastify's spelling (`/api/projects/:project`). */
export function fastifyPath(openApiPath: string): string {
  return openApiPath.replaceAll(/\{([^}]+)\}/g, ':$1')
}

/** The `:name` parameters of a route, in order. */
export function pathParams(url: string): string[] {
  return [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] ?? '')
}

/** Fills `:name` parameters (values are URL-encoded). */
export function fillPath(url: string, values: Record<string, string>): string {
  return url.replaceAll(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`no value for :${name} in ${url}`)
    return encodeURIComponent(value)
  })
}
