import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import { assertAddress, assertPort, assertSlug, assertToken, siteKey } from '../names.ts'

/** One instance in a site's upstream. */
export interface UpstreamInstance {
  /** Instance id (listed in the config endpoint and in comments). */
  id: string
  /** Docker host name the instance runs on (comment only). */
  host: string
  /** Port the container is published on. */
  port: number
  /** Address nginx connects to (an IP literal). Default 127.0.0.1. */
  address?: string
}

/** What one environment's gateway serves: `listenPort` on 127.0.0.1 -> its instances. */
export interface SiteConfig {
  project: string
  environment: string
  listenPort: number
  instances: UpstreamInstance[]
}

export interface RenderedSite {
  project: string
  environment: string
  listenPort: number
  /** `{project}_{environment}.conf`, the file's name in the sites folder. */
  fileName: string
  /** Hash of the rendered text; `/__slipway/config` answers it once the config is live. */
  version: string
  /** Ids of the instances in the upstream, sorted. Empty: the site answers 503. */
  instanceIds: string[]
  text: string
}

/** Path on every site answering `{"site","version","instances"}` of the live config. */
export const configPath = '/__slipway/config'

/**
 * Tuning for zero failed requests while instances come and go. A refused or reset connection,
 * a timeout or a 502/503 from one instance is retried on the next one (GET, HEAD and other
 * idempotent requests; nginx never replays a request body of a POST once sent), within
 * bounded tries and time.
 */
export const proxyTuning = {
  connectTimeout: '1s',
  nextUpstreamTries: 3,
  nextUpstreamTimeout: '10s',
  readTimeout: '60s',
  sendTimeout: '60s',
  keepaliveConnections: 32,
  keepaliveTimeout: '60s',
  maxFails: 1,
  failTimeout: '5s',
  retryAfterSeconds: 5,
}

const versionPlaceholder = '@@SLIPWAY_VERSION@@'

interface Server {
  id: string
  host: string
  target: string
}

function servers(site: SiteConfig): Server[] {
  const byTarget = new Map<string, Server>()
  const all = site.instances.map((instance, index): Server => {
    const id = assertToken(`instances[${index}].id`, instance.id)
    const host = assertToken(`instances[${index}].host`, instance.host)
    const port = assertPort(`instances[${index}].port`, instance.port)
    const address = assertAddress(`instances[${index}].address`, instance.address ?? '127.0.0.1')
    const target = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`
    return { id, host, target }
  })
  all.sort((a, b) => (a.target === b.target ? compare(a.id, b.id) : compare(a.target, b.target)))
  // Two entries on one address would be one server twice; the lowest id wins.
  for (const server of all) if (!byTarget.has(server.target)) byTarget.set(server.target, server)
  return [...byTarget.values()]
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Renders one site: a server on 127.0.0.1:listenPort proxying to one upstream. Pure and
 * deterministic (the same instances in any order give the same text); every interpolated
 * value is validated, so nothing the registry holds can inject nginx directives.
 */
export function renderSite(site: SiteConfig): RenderedSite {
  const project = assertSlug('project', site.project)
  const environment = assertSlug('environment', site.environment)
  const listenPort = assertPort('listenPort', site.listenPort)
  const key = siteKey(project, environment)
  const list = servers(site)
  const instanceIds = list.map((server) => server.id).sort(compare)
  const name = `${project}/${environment}`
  const endpointBody = `{"site":"${name}","version":"${versionPlaceholder}","instances":[${instanceIds.map((id) => `"${id}"`).join(',')}]}`
  const t = proxyTuning
  const lines = [
    '# Managed by Slipway (@slipway/gateway): rewritten on every change, do not edit.',
    `# site ${name} version ${versionPlaceholder}`,
  ]
  if (list.length > 0) {
    lines.push(
      `upstream slipway_${key} {`,
      ...list.map(
        (server) =>
          `  server ${server.target} max_fails=${t.maxFails} fail_timeout=${t.failTimeout}; # ${server.id} on ${server.host}`,
      ),
      `  keepalive ${t.keepaliveConnections};`,
      `  keepalive_timeout ${t.keepaliveTimeout};`,
      '}',
    )
  }
  lines.push(
    'server {',
    `  listen 127.0.0.1:${listenPort};`,
    `  location = ${configPath} {`,
    '    allow 127.0.0.1;',
    '    deny all;',
    '    default_type application/json;',
    "    add_header Cache-Control 'no-store' always;",
    `    return 200 '${endpointBody}\\n';`,
    '  }',
    '  location / {',
  )
  if (list.length > 0) {
    lines.push(
      `    proxy_pass http://slipway_${key};`,
      '    proxy_http_version 1.1;',
      '    proxy_set_header Connection "";',
      '    proxy_set_header Host $host;',
      '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      '    proxy_set_header X-Forwarded-Proto $scheme;',
      '    proxy_set_header X-Request-Id $request_id;',
      `    proxy_connect_timeout ${t.connectTimeout};`,
      `    proxy_send_timeout ${t.sendTimeout};`,
      `    proxy_read_timeout ${t.readTimeout};`,
      '    proxy_next_upstream error timeout http_502 http_503;',
      `    proxy_next_upstream_tries ${t.nextUpstreamTries};`,
      `    proxy_next_upstream_timeout ${t.nextUpstreamTimeout};`,
    )
  } else {
    const body = `{"error":{"code":"DEPENDENCY_UNAVAILABLE","message":"no live instance of ${name}"}}`
    lines.push(
      '    default_type application/json;',
      `    add_header Retry-After ${t.retryAfterSeconds} always;`,
      "    add_header Cache-Control 'no-store' always;",
      `    return 503 '${body}\\n';`,
    )
  }
  lines.push('  }', '}', '')
  const draft = lines.join('\n')
  const version = createHash('sha256').update(draft).digest('hex').slice(0, 16)
  return {
    project,
    environment,
    listenPort,
    fileName: `${key}.conf`,
    version,
    instanceIds,
    text: draft.replaceAll(versionPlaceholder, version),
  }
}
