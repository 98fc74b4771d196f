#!/usr/bin/env node
// The production build of the API and the worker: our TypeScript (the app and the @slipway/*
// packages) compiled and bundled by esbuild into apps/<app>/dist/*.mjs, so they run on plain
// `node` with no tsx at run time. Installed packages are not bundled: each import of one is
// kept, pointing at the file pnpm installed (a path relative to dist/, so the checkout with its
// node_modules can move as one, into a container image say), and loads from there as it
// does in development (packages that read files beside them keep working).
// Usage: node scripts/build-server.mjs [api|worker ...] [--outdir <dir>]   (default: both)
import { rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { build } from 'esbuild'

const root = path.resolve(import.meta.dirname, '..')
const entries = {
  // Each entry lands in dist/ itself (dist/<name>.mjs): the relative imports of installed
  // packages are computed from dist/, so no entry may sit in a folder below it.
  api: {
    main: 'src/main.ts',
    seed: 'src/seed.ts',
    backup: 'src/backup/main.ts',
    migrate: 'src/migrate/main.ts',
  },
  worker: { main: 'src/main.ts' },
}

const args = process.argv.slice(2)
const outdirAt = args.indexOf('--outdir')
const outdirArg = outdirAt >= 0 ? args.splice(outdirAt, 2)[1] : undefined
const apps = args.length > 0 ? args : Object.keys(entries)
for (const app of apps) {
  if (!(app in entries)) {
    console.error(`unknown app "${app}": one of ${Object.keys(entries).join(', ')}`)
    process.exit(2)
  }
}

/** Installed packages stay outside the bundle, imported from where pnpm put them. */
function installedPackagesOutside(outdir) {
  return {
    name: 'installed-packages-outside',
    setup(builder) {
      builder.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (
          args.pluginData === 'resolving' ||
          args.path.startsWith('@slipway/') ||
          args.path.startsWith('node:')
        ) {
          return undefined
        }
        const found = await builder.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: 'resolving',
        })
        if (found.errors.length > 0) return { errors: found.errors }
        // A Node.js built-in named without `node:` stays as it is.
        if (!path.isAbsolute(found.path)) return { path: args.path, external: true }
        const relative = path.relative(outdir, found.path).split(path.sep).join('/')
        return { path: relative.startsWith('.') ? relative : `./${relative}`, external: true }
      })
    },
  }
}

for (const app of apps) {
  const started = Date.now()
  const appDir = path.join(root, 'apps', app)
  const outdir = outdirArg ? path.resolve(outdirArg, app) : path.join(appDir, 'dist')
  await rm(outdir, { recursive: true, force: true })
  const result = await build({
    entryPoints: Object.fromEntries(
      Object.entries(entries[app]).map(([name, entry]) => [name, path.join(appDir, entry)]),
    ),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    plugins: [installedPackagesOutside(outdir)],
    metafile: true,
    logLevel: 'warning',
  })
  // The installed files the bundle imports, for scripts/pack-server.mjs (what a server needs).
  const installed = new Set()
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imported of output.imports) {
      if (imported.external && imported.path.startsWith('.')) installed.add(imported.path)
    }
  }
  await writeFile(path.join(outdir, 'installed.json'), `${JSON.stringify([...installed].sort(), null, 2)}\n`)
  process.stdout.write(`[build] ${app}: ${path.relative(root, outdir)} in ${Date.now() - started} ms\n`)
}
