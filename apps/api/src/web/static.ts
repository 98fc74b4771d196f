import { existsSync } from 'node:fs'
import path from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

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
