import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

/**
 * The Content-Security-Policy of every answer: only this origin's scripts, styles, images
 * and connections, no plugins, no framing. The dashboard's one inline `<style>` (the boot
 * message in index.html) is allowed by its hash, read from the built file itself.
 */
export async function contentSecurityPolicy(
  distDir: string | undefined,
  options: { https: boolean },
): Promise<Record<string, string[] | null>> {
  const styleHashes: string[] = []
  if (distDir && existsSync(path.join(distDir, 'index.html'))) {
    const html = await readFile(path.join(distDir, 'index.html'), 'utf8')
    for (const match of html.matchAll(/<style>([\s\S]*?)<\/style>/g)) {
      styleHashes.push(
        `'sha256-${createHash('sha256')
          .update(match[1] ?? '')
          .digest('base64')}'`,
      )
    }
  }
  return {
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'style-src': ["'self'", ...styleHashes],
    // Swagger UI (/api/docs) draws some icons from data: URLs.
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'"],
    'connect-src': ["'self'"],
    'object-src': ["'none'"],
    'base-uri': ["'none'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
    // Over plain http (a laptop, the tests) an upgrade would point every request at a port with no TLS.
    ...(options.https ? { 'upgrade-insecure-requests': [] } : {}),
  }
}

/**
 * Serves the built dashboard. Unknown paths outside /api fall back to index.html so the
 * browser router can handle them; /api and the probes keep their JSON 404s.
 */
export async function serveDashboard(app: FastifyInstance, distDir: string): Promise<void> {
  const index = path.join(distDir, 'index.html')
  if (!existsSync(index))
    throw new Error(`dashboard build not found: ${index} (run pnpm --filter @slipway/web build)`)
  await app.register(fastifyStatic, {
    root: distDir,
    wildcard: false,
    index: ['index.html'],
    setHeaders(res, file) {
      // Vite names built assets by content hash: they never change.
      if (file.includes(`${path.sep}assets${path.sep}`))
        res.header('cache-control', 'public, max-age=31536000, immutable')
    },
  })
  app.get('/*', (request, reply) => {
    if (request.url.startsWith('/api/')) {
      return reply.callNotFound()
    }
    return reply.type('text/html').header('cache-control', 'no-cache').sendFile('index.html')
  })
}
