import { readdir, readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import path from 'node:path'
import type { Db } from '@slipway/db'
import { dockerClient, fleet } from '@slipway/testing/services'
import type { Redis } from 'ioredis'

/** A secret value looked for, by the name a finding reports (never the value itself). */
export interface Needle {
  name: string
  value: string
}

export interface Finding {
  place: string
  needle: string
  /** Up to 60 characters either side, the value replaced by its name. */
  context: string
}

/** Looks for every needle in everything it is shown, and keeps where each was found. */
export class SecretSearch {
  readonly findings: Finding[] = []
  constructor(readonly needles: Needle[]) {}

  look(place: string, content: string | Buffer): void {
    for (const needle of this.needles) {
      const at = content.indexOf(needle.value)
      if (at < 0) continue
      const text = Buffer.isBuffer(content) ? content.toString('latin1') : content
      const context = text
        .slice(Math.max(0, at - 60), at + needle.value.length + 60)
        .split(needle.value)
        .join(`<${needle.name}>`)
      this.findings.push({ place, needle: needle.name, context })
    }
  }
}

interface OpenApi {
  paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, unknown> }> }>>
}

/**
 * Every GET route of the API's OpenAPI document, with each path parameter filled by every
 * value `values(name, route, filled)` gives (`filled`: the parameters before it in the path),
 * read with `token`. Event streams are read for `streamMs`.
 * Answers with the number of responses read and their statuses.
 */
export async function crawlGets(
  url: string,
  token: string,
  values: (name: string, route: string, filled: Record<string, string>) => string[],
  search: SecretSearch,
  who: string,
  streamMs = 1500,
): Promise<{ responses: number; routes: number; statuses: Record<string, number> }> {
  const api = (await (await fetch(`${url}/api/docs/json`)).json()) as OpenApi
  const requests: Array<{ route: string; target: string; stream: boolean }> = []
  let routes = 0
  for (const [route, item] of Object.entries(api.paths)) {
    const get = item.get
    if (!get) continue
    routes++
    const stream = Boolean(get.responses?.['200']?.content?.['text/event-stream'])
    let targets = [{ target: route, filled: {} as Record<string, string> }]
    for (const name of [...route.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string)) {
      targets = targets.flatMap(({ target, filled }) => {
        const options = values(name, route, filled)
        if (!options.length) throw new Error(`no value for {${name}} in ${route}`)
        return options.map((value) => ({
          target: target.replace(`{${name}}`, encodeURIComponent(value)),
          filled: { ...filled, [name]: value },
        }))
      })
    }
    for (const { target } of targets) requests.push({ route, target, stream })
  }
  const statuses: Record<string, number> = {}
  await Promise.all(
    requests.map(async ({ target, stream }) => {
      const controller = new AbortController()
      const timer = setTimeout(() => controller.abort(), stream ? streamMs : 30_000)
      let text = ''
      let status = 0
      try {
        const response = await fetch(`${url}${target}`, {
          headers: { authorization: `Bearer ${token}` },
          signal: controller.signal,
        })
        status = response.status
        const reader = response.body?.getReader()
        const decoder = new TextDecoder()
        while (reader) {
          const { done, value } = await reader.read()
          if (done) break
          text += decoder.decode(value, { stream: true })
        }
      } catch (error) {
        // An event stream is cut by our own timer: what arrived until then is what is searched.
        if (!(stream && controller.signal.aborted)) throw error
      } finally {
        clearTimeout(timer)
      }
      statuses[status] = (statuses[status] ?? 0) + 1
      search.look(`GET ${target} as ${who} (${status})`, text)
    }),
  )
  return { responses: requests.length, routes, statuses }
}

/** Every file under `dir` (process logs, the gateway's files, work folders). */
export async function searchFiles(
  dir: string,
  search: SecretSearch,
): Promise<{ files: number; bytes: number; logBytes: number }> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  let files = 0
  let bytes = 0
  let logBytes = 0
  for (const entry of entries) {
    if (!entry.isFile()) continue
    const file = path.join(entry.parentPath, entry.name)
    const content = await readFile(file).catch((error: NodeJS.ErrnoException) => {
      // A work file removed between the listing and the read (a checkout being cleaned).
      if (error.code === 'ENOENT') return undefined
      throw error
    })
    if (!content) continue
    files++
    bytes += content.length
    if (entry.name.endsWith('.log')) logBytes += content.length
    search.look(`file ${path.relative(dir, file)}`, content)
  }
  return { files, bytes, logBytes }
}

/** Every row of every table of the stack's database, as PostgreSQL prints it (`row::text`). */
export async function searchDatabase(
  db: Db,
  search: SecretSearch,
): Promise<{ tables: number; rows: number }> {
  const tables = await db.$queryRawUnsafe<{ name: string }[]>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`,
  )
  let rows = 0
  for (const { name } of tables) {
    const found = await db.$queryRawUnsafe<{ row: string }[]>(
      `SELECT t::text AS row FROM "${name.replaceAll('"', '""')}" t`,
    )
    rows += found.length
    for (const { row } of found) search.look(`table ${name}: ${row.slice(0, 60)}`, row)
  }
  return { tables: tables.length, rows }
}

/** Every key under the stack's Redis prefix and its value, whatever its type. */
export async function searchRedis(
  redis: Redis,
  prefix: string,
  search: SecretSearch,
): Promise<{ keys: number; bytes: number }> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  let bytes = 0
  for (const key of keys) {
    const type = await redis.type(key)
    let value: unknown
    if (type === 'string') value = await redis.get(key)
    else if (type === 'hash') value = await redis.hgetall(key)
    else if (type === 'list') value = await redis.lrange(key, 0, -1)
    else if (type === 'set') value = await redis.smembers(key)
    else if (type === 'zset') value = await redis.zrange(key, 0, -1, 'WITHSCORES')
    else if (type === 'stream') value = await redis.xrange(key, '-', '+')
    else if (type === 'none')
      continue // expired between the scan and the read
    else throw new Error(`Redis key ${key} has a type this search does not read: ${type}`)
    const text = JSON.stringify([key, value])
    bytes += text.length
    search.look(`redis ${type} ${key}`, text)
  }
  return { keys: keys.length, bytes }
}

/**
 * Every container of `project` on every fleet host (running or not): its inspect without
 * Config.Env (the one place a runtime secret is meant to be) and the inspect of its image on
 * that host. Answers with each container's env, for the caller to check the secret did arrive.
 */
export async function searchContainers(
  project: string,
  search: SecretSearch,
): Promise<{ containers: number; envs: string[][] }> {
  const envs: string[][] = []
  for (const host of Object.keys(fleet().hosts)) {
    const docker = dockerClient(host)
    const listed = await docker.listContainers({
      all: true,
      filters: { label: [`slipway.project=${project}`] },
    })
    for (const { Id } of listed) {
      const inspect = await docker.getContainer(Id).inspect()
      envs.push(inspect.Config.Env ?? [])
      const withoutEnv = { ...inspect, Config: { ...inspect.Config, Env: ['(searched apart)'] } }
      search.look(`container ${inspect.Name} on ${host} (inspect)`, JSON.stringify(withoutEnv))
      search.look(`container ${inspect.Name} on ${host} (labels)`, JSON.stringify(inspect.Config.Labels))
      const image = await docker.getImage(inspect.Image).inspect()
      search.look(`image ${inspect.Image} on ${host} (inspect)`, JSON.stringify(image))
      const history = await docker.getImage(inspect.Image).history()
      search.look(`image ${inspect.Image} on ${host} (history)`, JSON.stringify(history))
    }
  }
  return { containers: envs.length, envs }
}

/** A listening HTTP server on 127.0.0.1; `close` ends it and its connections. */
async function listen(server: Server): Promise<{ port: number; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('no port')
  return {
    port: address.port,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * A receiver standing in for GitLab's API and a notification endpoint: it records what it is
 * sent and answers 500 (so the senders' error paths run, and their retries).
 */
export async function failingReceiver() {
  const received: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }> = []
  const server = createServer((request, response) => {
    received.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers })
    request.resume()
    request.on('end', () => response.writeHead(500, { 'content-type': 'text/plain' }).end('receiver down'))
  })
  const { port, close } = await listen(server)
  return { port, received, close }
}
