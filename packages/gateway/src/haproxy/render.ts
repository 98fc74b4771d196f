import { createHash, createHmac } from 'node:crypto'
import { isIP } from 'node:net'
import {
  assertAddress,
  assertPort,
  assertSecret,
  assertSlug,
  assertToken,
  assertWeight,
  siteKey,
} from '../names.ts'

/** One instance in a site's backend. */
export interface SiteServer {
  /** Instance id: the server's name in HAProxy. */
  id: string
  /** Docker host name the instance runs on (kept in the ack, not in HAProxy). */
  host: string
  /** The IP literal HAProxy connects to (the instance's Docker host). */
  address: string
  port: number
  /** HAProxy's server weight, 0..256 (absent: 1, an equal share). */
  weight?: number
}

/**
 * Where the sites' ports listen unless the gateway is given another address: the gateway's own
 * machine only (a proxy in front, the local fleet). The one owner of that default.
 */
export const defaultBindAddress = '127.0.0.1'

/** What one environment's gateway serves: `listenPort` on `bindAddress` -> its instances. */
export interface SiteConfig {
  project: string
  environment: string
  listenPort: number
  /** The address the frontend listens on (an IP literal; 0.0.0.0 is every one). Default 127.0.0.1. */
  bindAddress?: string
  instances: readonly SiteServer[]
  /**
   * Sticky sessions: a cookie keeps each client on the server that first answered it.
   * `secret` (hex, the gateway folder's, see HaproxyApplier.cookieSecret) keys the cookies'
   * values, so every agent and every reload give one instance the same value.
   */
  sticky?: { secret: string }
}

/** The HAProxy names of one site. */
export interface SiteNames {
  /** `{project}_{environment}` */
  key: string
  /** `{project}_{environment}.cfg`, the file's name in the sites folder. */
  fileName: string
  /** `fe_{key}_{listenPort}`: the port is in the name, so the runtime shows which one is bound. */
  frontend: string
  /** `be_{key}` */
  backend: string
}

export interface RenderedSite extends SiteNames {
  project: string
  environment: string
  listenPort: number
  bindAddress: string
  /** The sticky cookie's name; absent when the site is not sticky. */
  cookie?: string
  /** The backend's servers, validated, one per id, sorted by id. Empty: the site answers 503. */
  servers: SiteServer[]
  /** Hash of the text: the same site in any instance order has the same version. */
  version: string
  text: string
}

/** The first line of every site file the gateway writes (files without it are not ours). */
export const managedMarker = '# Managed by Slipway (@slipway/gateway)'

/** Seconds a client is told to wait when a site has no live instance. */
const retryAfterSeconds = 5

export function siteNames(project: string, environment: string, listenPort: number): SiteNames {
  const key = siteKey(project, environment)
  const port = assertPort('listenPort', listenPort)
  return { key, fileName: `${key}.cfg`, frontend: `fe_${key}_${port}`, backend: `be_${key}` }
}

/** `address:port`, IPv6 in brackets: a server's address in a config line or `add server`. */
export function serverTarget(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`
}

/** The address as HAProxy prints it (IPv6 compressed and lowercase), for comparisons. */
export function canonicalAddress(address: string): string {
  return isIP(address) === 6 ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * The servers a site's backend holds: validated (nothing the registry holds can inject a
 * directive), sorted by id, one per id (of two entries with one id, the lower host-port wins).
 */
function siteServers(instances: readonly SiteServer[]): SiteServer[] {
  const valid = instances.map((instance, index) => ({
    id: assertToken(`instances[${index}].id`, instance.id),
    host: assertToken(`instances[${index}].host`, instance.host),
    address: canonicalAddress(assertAddress(`instances[${index}].address`, instance.address)),
    port: assertPort(`instances[${index}].port`, instance.port),
    ...(instance.weight === undefined || instance.weight === 1
      ? {}
      : { weight: assertWeight(`instances[${index}].weight`, instance.weight) }),
  }))
  valid.sort((a, b) => compare(a.id, b.id) || compare(a.host, b.host) || a.port - b.port)
  return valid.filter((server, index) => index === 0 || valid[index - 1]?.id !== server.id)
}

/**
 * The sticky lines of a backend. The cookie is named after the site (a browser keeps cookies
 * per host, not per port, so two sites of one gateway need two names) and holds no name or
 * address: HAProxy's dynamic cookie, a hash of the server's address:port keyed by the site's
 * key (HMAC of the folder's secret), opaque without it. Dynamic, not `cookie <value>` per
 * server: HAProxy 2.6's `add server` refuses `cookie`, so a server added at runtime could not
 * have its own (the applier has HAProxy compute the new one's, `enable dynamic-cookie`; a
 * reload computes the same). `insert indirect`: HAProxy sets it, strips it from requests
 * and sets it again only when the client's is missing or names another server, so the app
 * never sees it; `nocache` makes a cacheable response carrying it private; `httponly`. No
 * `secure`: the gateway speaks plain HTTP (TLS, if any, ends in front of it). A client whose
 * server left (maintenance, deleted) or does not answer is served by another and given its
 * cookie (`option redispatch` in the main config).
 */
function stickyLines(key: string, secret: string): { cookie: string; lines: string[] } {
  const cookie = `SLIPWAY_${createHash('sha256').update(key).digest('hex').slice(0, 8)}`
  const dynamicKey = createHmac('sha256', assertSecret('sticky.secret', secret)).update(key).digest('hex')
  return {
    cookie,
    lines: [
      `  cookie ${cookie} insert indirect nocache httponly dynamic`,
      `  dynamic-cookie-key ${dynamicKey}`,
    ],
  }
}

/** The JSON a site with no live instance answers (503, `Retry-After`). */
function emptySiteBody(project: string, environment: string): string {
  return `{"error":{"code":"DEPENDENCY_UNAVAILABLE","message":"no live instance of ${project}/${environment}"}}`
}

/**
 * Renders one site: a frontend on bindAddress:listenPort and a round-robin backend holding its
 * servers, with a sticky cookie when asked. Pure and deterministic. The 503 of an empty backend is HAProxy's own "no server"
 * error rewritten (`http-error`), not a rule on `nbsrv`: a worker finishing its connections
 * after a reload counts no usable server, and would answer its last requests with 503.
 */
export function renderSite(site: SiteConfig): RenderedSite {
  const project = assertSlug('project', site.project)
  const environment = assertSlug('environment', site.environment)
  const names = siteNames(project, environment, site.listenPort)
  const servers = siteServers(site.instances)
  const bindAddress = canonicalAddress(assertAddress('bindAddress', site.bindAddress ?? defaultBindAddress))
  const body = emptySiteBody(project, environment).replaceAll('"', '\\"')
  const sticky = site.sticky ? stickyLines(names.key, site.sticky.secret) : undefined
  const lines = [
    `frontend ${names.frontend}`,
    `  bind ${serverTarget(bindAddress, site.listenPort)}`,
    `  default_backend ${names.backend}`,
    '',
    `backend ${names.backend}`,
    '  balance roundrobin',
    ...(sticky?.lines ?? []),
    `  http-error status 503 content-type application/json hdr Retry-After ${retryAfterSeconds} string "${body}"`,
    ...servers.map(
      (server) =>
        `  server ${server.id} ${serverTarget(server.address, server.port)}${server.weight === undefined ? '' : ` weight ${server.weight}`}`,
    ),
    '',
  ]
  const draft = lines.join('\n')
  const version = createHash('sha256').update(draft).digest('hex').slice(0, 16)
  const header = [
    `${managedMarker}, do not edit. Servers change through the Runtime API;`,
    '# this file follows each change without a reload, so a reload or restart serves the same.',
    `# site ${project}/${environment} version ${version}`,
  ]
  return {
    ...names,
    project,
    environment,
    listenPort: site.listenPort,
    bindAddress,
    ...(sticky ? { cookie: sticky.cookie } : {}),
    servers,
    version,
    text: `${header.join('\n')}\n${draft}`,
  }
}

/**
 * The main config of a gateway folder: the text docker/fleet.sh writes for the fleet's
 * gateway (a test compares them), so private gateways in tests and e2e run the same.
 */
export function renderMainConfig(options: { dir: string; port: number }): string {
  const port = assertPort('port', options.port)
  return [
    'global',
    '  master-worker',
    `  stats socket ${options.dir}/admin.sock mode 600 level admin expose-fd listeners`,
    '  stats timeout 2m',
    // 20000 needs 40040 file descriptors; this machine's hard limit (ulimit -Hn) is 20000.
    '  maxconn 8000',
    "# Every request's outcome, read by Slipway's traffic recorder (show events slipway-traffic).",
    'ring slipway-traffic',
    '  format raw',
    '  maxlen 1024',
    '  size 4194304',
    'defaults',
    '  mode http',
    '  log ring@slipway-traffic local0 info',
    '  log-format "%Ts.%ms %b %s %ST %Ta %Tr %tsc %rc"',
    '  timeout connect 1s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 60s',
    '  timeout queue 10s',
    '  option http-server-close',
    '  option idle-close-on-response',
    '  option redispatch',
    '  retry-on conn-failure empty-response',
    '  retries 2',
    'frontend gateway-health',
    `  bind 127.0.0.1:${port}`,
    '  no log',
    '  http-request return status 200 content-type text/plain string "ok" if { path /gateway-health }',
    '  http-request return status 404 content-type text/plain string "no environment here"',
    '',
  ].join('\n')
}
