/**
 * One request as HAProxy logged it into the `slipway-traffic` ring, with the main config's
 *
 *   log-format "%Ts.%ms %b %s %ST %Ta %Tr %tsc %rc"
 *
 * e.g. `1796398030.227 be_demo_production r3f2a-9k2d-4 200 3 2 ---- 0`.
 */
export interface TrafficLine {
  /**
   * `%Ts.%ms` in ms: HAProxy's accept date, which for a kept-alive HTTP/1 connection is the
   * end of the previous response (so it may lie before the request by the idle time).
   */
  atMs: number
  /** `%b`: the backend, `be_<project>_<environment>` for a Slipway site. */
  backend: string
  /** `%s`: the server (an instance id), or `<NOSRV>` when none was chosen. */
  server: string
  /** `%ST`: the status sent to the client; -1 (or 0) when none was. */
  status: number
  /** `%Ta`: ms from the request's first byte to the response's last byte. */
  totalMs: number
  /** `%Tr`: ms until the server's complete response headers; -1 when none came. */
  responseMs: number
  /** `%tsc`: the termination state, 4 characters in HTTP mode (`----` when normal). */
  termination: string
  /** `%rc`: connection retries (HAProxy prefixes `+` on a redispatch; dropped here). */
  retries: number
}

/** The server name HAProxy logs when no server was chosen. */
export const noServer = '<NOSRV>'

const linePattern =
  /^(\d{1,12})\.(\d{3}) (\S+) (\S+) (-?\d{1,3}) \+?(\d{1,10}) (-?\d{1,10}) ([A-Za-z-]{2,4}) \+?(\d{1,5})$/

/**
 * Parses one ring line; undefined for anything else the ring carries (server state changes,
 * "Proxy ... stopped" at a reload, a format we do not know).
 */
export function parseTrafficLine(line: string): TrafficLine | undefined {
  const match = linePattern.exec(line.trimEnd())
  if (!match) return undefined
  const [, seconds, millis, backend, server, status, total, response, termination, retries] = match
  return {
    atMs: Number(seconds) * 1000 + Number(millis),
    backend: backend as string,
    server: server as string,
    status: Number(status),
    totalMs: Number(total),
    responseMs: Number(response),
    termination: termination as string,
    retries: Number(retries),
  }
}

/** A Slipway site: the gateway's backend `be_<project>_<environment>`. */
export interface TrafficSite {
  project: string
  environment: string
  /** `{project}_{environment}` */
  key: string
}

const slug = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
const backendPattern = new RegExp(`^be_(${slug})_(${slug})$`)

/** The site of a backend name; undefined for a backend that is not a Slipway site's. */
export function siteOfBackend(backend: string): TrafficSite | undefined {
  const match = backendPattern.exec(backend)
  if (!match) return undefined
  const [, project, environment] = match as unknown as [string, string, string]
  return { project, environment, key: `${project}_${environment}` }
}
