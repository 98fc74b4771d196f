import { noServer, type TrafficLine } from './parse.ts'

/**
 * What one request's outcome was, from the client's side of the gateway:
 *
 * - `ok`: a whole response that is not a 5xx (the application's 4xx included).
 * - `app5xx`: the application answered with a 5xx (its headers reached HAProxy).
 * - `gateway5xx`: HAProxy answered with a 5xx of its own (no server, server refused or
 *   timed out, server closed before answering, response blocked).
 * - `connection`: the client got no status, or a response cut short (server or proxy side).
 * - `clientAbort`: the client closed or stalled first; not counted as a failure.
 */
export type RequestOutcome = 'ok' | 'app5xx' | 'gateway5xx' | 'connection' | 'clientAbort'

/** The outcomes that count as failed requests (client aborts and `ok` do not). */
export const failureCauses = ['connection', 'gateway5xx', 'app5xx'] as const
export type FailureCause = (typeof failureCauses)[number]

/**
 * First character of `%tsc` (HAProxy configuration manual, 8.5 "Session state at
 * disconnection"): who or what ended the session.
 *   C client aborted · c client timeout · S server aborted or refused · s server timeout
 *   P proxy blocked (limit, deny, invalid message) · L handled locally by HAProxy
 *   R proxy resource exhausted · I internal error · D killed because the server went down
 *   U killed on a backup server · K killed by an admin · - normal completion
 * Second character: the phase it ended in.
 *   R waiting for the request · Q queued · C connecting to the server · H waiting for the
 *   response headers · D data phase · L sending the last data · T tarpitted · - completed
 */
const clientEnded = new Set(['C', 'c'])
/** Ends caused on the server side or by HAProxy that cut a response short or left none. */
const abnormalEnd = new Set(['S', 's', 'R', 'I', 'D', 'U', 'K'])
/** The proxy replaced the server's answer with its own (`PH`: 502) or failed internally. */
const proxyReplaced = new Set(['P', 'I'])

/**
 * Classifies one logged request. Pure; the rules are checked in this order, and the first
 * that matches decides:
 *
 * 1. **app5xx**: status >= 500 from a named server whose response headers arrived
 *    (`%Tr` >= 0), unless the proxy replaced that answer (`P`, `I`). The application chose
 *    this status; what happened after (`SD` the server died mid-body, `CD` the client left)
 *    does not make it less of an application error. Example: `s1 500 1 1 ----`.
 * 2. **clientAbort**: the session ended on the client's side (`C`, `c`): `CD` aborted during
 *    the body, `CH` while waiting for the answer, `CR`/`cR` before a whole request, `CC`,
 *    `CQ`, `cD`. The client left; the deploy did not fail it.
 * 3. **gateway5xx**: any other status >= 500 was written by HAProxy: `<NOSRV> 503 SC--`
 *    (no server in the backend: the site's `http-error` page), `LR` 503 (a local
 *    `http-request return`), `SC` 503 (refused after the retries), `sC` 503/504 (connect
 *    timeout), `SH` 502 (server closed before answering), `sH` 504 (server timeout),
 *    `sQ` 503 (queue timeout), `PH` 502 (response blocked), `RC` 503 (resources).
 * 4. **connection**: the client got no status (`%ST` -1 or 0), or the session ended
 *    abnormally on the server or proxy side after a status was sent, i.e. a cut response:
 *    `SD` (server reset mid-body), `sD` (server timeout mid-body), `PD` (invalid chunk from
 *    the server), `K*` (shutdown sessions), `D*` (server marked down killed it).
 * 5. **ok**: a whole response below 500 (`----`, `LR` 404, `PR` 400/403 for a request
 *    HAProxy refused are answers, not failures of the deploy).
 */
export function classifyRequest(
  line: Pick<TrafficLine, 'server' | 'status' | 'responseMs' | 'termination'>,
): RequestOutcome {
  const ender = line.termination[0] ?? '-'
  const phase = line.termination[1] ?? '-'
  const serverAnswered = line.server !== noServer && line.responseMs >= 0
  if (line.status >= 500 && serverAnswered && !proxyReplaced.has(ender)) return 'app5xx'
  if (clientEnded.has(ender)) return 'clientAbort'
  if (line.status >= 500) return 'gateway5xx'
  if (line.status <= 0) return 'connection'
  if (abnormalEnd.has(ender)) return 'connection'
  if (ender === 'P' && (phase === 'D' || phase === 'L')) return 'connection'
  return 'ok'
}
