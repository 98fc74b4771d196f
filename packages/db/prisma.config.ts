// Prisma CLI configuration. The schema and migrations live in the top-level prisma/ folder.
// The CLI's native schema engine is replaced by engine/schema-engine.mjs (Prisma's own
// WebAssembly engine), so `generate` and `migrate` never download anything.
import path from 'node:path'
import { defineConfig } from 'prisma/config'

process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(import.meta.dirname, 'engine', 'schema-engine.mjs')

export default defineConfig({
  schema: path.join(import.meta.dirname, '../../prisma/schema.prisma'),
  migrations: { path: path.join(import.meta.dirname, '../../prisma/migrations') },
  datasource: { url: process.env.DATABASE_URL ?? '' },
})
