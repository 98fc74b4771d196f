import { describe, expect, test } from 'vitest'
import { classifyRequest, type RequestOutcome } from './classify.ts'
import { parseTrafficLine } from './parse.ts'

function outcome(line: string): RequestOutcome {
  const parsed = parseTrafficLine(line)
  if (!parsed) throw new Error(`not a ring line: ${line}`)
  return classifyRequest(parsed)
}

// Lines as HAProxy 2.6 wrote them (fleet config's log-format) for each case, most of them
// seen in this package's recorder test or by hand against node:http upstreams.
const cases: [string, RequestOutcome, string][] = [
  ['1796398593.060 be_p_ok s1 200 24 23 ---- 0', 'ok', 'a whole answer'],
  ['1796398593.060 be_p_ok s1 404 2 2 ---- 0', 'ok', "the application's 4xx is an answer"],
  ['1796398593.060 be_p_ok s1 200 2 1 ---- 1', 'ok', 'answered after a connection retry'],
  ['1796398593.060 be_p_ok <NOSRV> 400 0 -1 PR-- 0', 'ok', 'HAProxy refused an invalid request (400)'],
  ['1796398593.060 be_p_ok <NOSRV> 403 0 -1 PR-- 0', 'ok', 'a deny rule (403)'],
  ['1796398593.060 be_p_ok <NOSRV> 404 0 -1 LR-- 0', 'ok', 'a local 404'],
  ['1796398593.205 be_p_ok s1 500 1 1 ---- 0', 'app5xx', 'the application answered 500'],
  ['1796398593.205 be_p_ok s1 503 1 1 ---- 0', 'app5xx', 'the application answered 503'],
  ['1796398593.205 be_p_ok s1 500 9 1 SD-- 0', 'app5xx', 'a 500 whose body was cut is still the app'],
  ['1796398593.205 be_p_ok s1 502 9 1 CD-- 0', 'app5xx', 'a 502 from the app, then the client left'],
  ['1796398592.996 be_p_empty <NOSRV> 503 0 -1 SC-- 0', 'gateway5xx', 'empty backend (http-error 503)'],
  ['1796398030.318 be <NOSRV> 503 0 -1 LR-- 0', 'gateway5xx', 'a local 503 (http-request return)'],
  ['1796398593.262 be_p_refused dead 503 2004 -1 SC-- 2', 'gateway5xx', 'refused after the retries'],
  ['1796398593.262 be_p_x s1 503 1001 -1 sC-- 2', 'gateway5xx', 'connect timeout'],
  ['1796398595.303 be_p_drop drop 502 15 -1 SH-- 2', 'gateway5xx', 'server closed before answering'],
  ['1796398595.444 be_p_slow slow 504 2002 -1 sH-- 0', 'gateway5xx', 'server timeout'],
  ['1796398595.444 be_p_x <NOSRV> 503 10000 -1 sQ-- 0', 'gateway5xx', 'queue timeout'],
  ['1796398595.444 be_p_x s1 502 3 2 PH-- 0', 'gateway5xx', 'HAProxy blocked an invalid response'],
  ['1796398595.444 be_p_x s1 503 0 -1 RC-- 0', 'gateway5xx', 'HAProxy out of resources'],
  ['1796398595.444 be_p_x s1 500 0 0 IH-- 0', 'gateway5xx', 'internal error'],
  ['1796398595.353 be_p_trunc trunc 200 54 1 SD-- 0', 'connection', 'server reset mid-body'],
  ['1796398595.353 be_p_x s1 200 60001 1 sD-- 0', 'connection', 'server timeout mid-body'],
  ['1796398595.353 be_p_x s1 200 3 1 PD-- 0', 'connection', 'invalid chunk from the server'],
  ['1796398595.353 be_p_x s1 200 3 1 KD-- 0', 'connection', 'shutdown sessions by an admin'],
  ['1796398595.353 be_p_x s1 200 3 1 DD-- 0', 'connection', 'killed when the server went down'],
  ['1796398595.353 be_p_x s1 -1 3 -1 SH-- 0', 'connection', 'no status at all'],
  ['1796398595.353 be_p_x s1 0 3 -1 ---- 0', 'connection', 'status 0'],
  ['1796398595.353 be_p_x s1 200 3 1 CD-- 0', 'clientAbort', 'client left during the body'],
  ['1796398595.353 be_p_x s1 -1 300 -1 CH-- 0', 'clientAbort', 'client left while waiting'],
  ['1796398595.353 be_p_x <NOSRV> 400 0 -1 CR-- 0', 'clientAbort', 'client closed before a whole request'],
  ['1796398595.353 be_p_x <NOSRV> 408 0 -1 cR-- 0', 'clientAbort', 'client too slow to send its request'],
  ['1796398595.353 be_p_x s1 503 1000 -1 CC-- 0', 'clientAbort', 'client left while HAProxy connected'],
  ['1796398595.353 be_p_x <NOSRV> 503 300 -1 CQ-- 0', 'clientAbort', 'client left while queued'],
  ['1796398595.353 be_p_x s1 200 60000 1 cD-- 0', 'clientAbort', 'client stopped reading'],
]

describe('classifyRequest', () => {
  test.each(cases)('%s -> %s (%s)', (line, expected) => {
    expect(outcome(line)).toBe(expected)
  })

  test('every outcome has a case', () => {
    const seen = new Set(cases.map(([, expected]) => expected))
    expect([...seen].sort()).toEqual(['app5xx', 'clientAbort', 'connection', 'gateway5xx', 'ok'])
  })

  test('every termination state and status class lands somewhere, and 5xx are never ok', () => {
    const enders = [...'CSPLRIDUKcs-']
    const phases = [...'RQCHDLT-']
    for (const ender of enders)
      for (const phase of phases)
        for (const status of [-1, 0, 200, 302, 404, 500, 502, 503, 504])
          for (const [server, responseMs] of [
            ['s1', 1],
            ['s1', -1],
            ['<NOSRV>', -1],
          ] as const) {
            const result = classifyRequest({ server, status, responseMs, termination: `${ender}${phase}--` })
            if (status >= 500) expect(result).not.toBe('ok')
            if (ender === 'C' || ender === 'c') expect(['clientAbort', 'app5xx']).toContain(result)
            if (result === 'app5xx')
              expect(server !== '<NOSRV>' && responseMs >= 0 && status >= 500).toBe(true)
            if (status <= 0) expect(['connection', 'clientAbort']).toContain(result)
          }
  })
})
