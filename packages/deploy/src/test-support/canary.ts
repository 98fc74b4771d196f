import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { readReleaseFigures } from '@slipway/gateway'
import type { Redis } from 'ioredis'
import type { CanaryRequest } from '../canary.ts'

/**
 * A canary's `figures` from the gateway's traffic recorder (a site gateway started with
 * `record: true`): per release, and the requests HAProxy retried.
 */
export function recordedFigures(
  redis: Redis,
  prefix: string,
  project: string,
  environment: string,
): CanaryRequest['figures'] {
  return (fromMs, signal) => readReleaseFigures(redis, prefix, { project, environment }, fromMs, { signal })
}

/** Inserts `lines` before the demo CGI's first answer line (its Content-Type header). */
async function beforeAnswer(dir: string, lines: string): Promise<void> {
  const index = path.join(dir, 'www', 'cgi-bin', 'index.cgi')
  const text = await readFile(index, 'utf8')
  const header = "printf 'Content-Type: text/plain\\r\\n\\r\\n'"
  if (!text.includes(header)) throw new Error(`${index}: no "${header}" line to patch`)
  // A function as the replacement: a replacement string would read `$(` patterns specially.
  await writeFile(
    index,
    text.replace(header, (line) => `${lines}\n${line}`),
  )
}

/** A demoImage patch: the demo answering 500 to every other request (a counter in /app/n). */
export function failsHalf(dir: string): Promise<void> {
  return beforeAnswer(
    dir,
    `n=$(( $(cat /app/n 2>/dev/null || echo 0) + 1 )); echo $n > /app/n\nif [ $(( n % 2 )) -eq 0 ]; then printf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nbroken\\n'; exit 0; fi`,
  )
}

/** A demoImage patch: the demo answering every request (200, as before) after `ms` ms. */
export function answersSlowly(ms: number): (dir: string) => Promise<void> {
  return (dir) => beforeAnswer(dir, `usleep ${Math.round(ms * 1000)}`)
}
