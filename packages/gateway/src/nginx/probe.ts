import http from 'node:http'
import { configPath } from './render.ts'

/** What a site's config endpoint answers. */
export interface LiveConfig {
  site: string
  version: string
  instances: string[]
}

/**
 * Asks 127.0.0.1:port which config serves it, on a fresh connection (a kept-alive one could
 * land on an old worker after a reload). Undefined when nothing answers it.
 */
export function probeConfig(
  port: number,
  options: { timeoutMs?: number } = {},
): Promise<LiveConfig | undefined> {
  return new Promise((resolve) => {
    const request = http.get(
      {
        host: '127.0.0.1',
        port,
        path: configPath,
        agent: false,
        headers: { connection: 'close' },
        timeout: options.timeoutMs ?? 2000,
      },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          if (body.length < 64 * 1024) body += chunk
        })
        response.on('end', () => resolve(response.statusCode === 200 ? parse(body) : undefined))
        response.on('error', () => resolve(undefined))
      },
    )
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', () => resolve(undefined))
  })
}

function parse(body: string): LiveConfig | undefined {
  try {
    const value = JSON.parse(body) as Partial<LiveConfig>
    if (typeof value.site === 'string' && typeof value.version === 'string' && Array.isArray(value.instances))
      return { site: value.site, version: value.version, instances: value.instances.map(String) }
  } catch {
    // not ours
  }
  return undefined
}
