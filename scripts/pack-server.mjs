#!/usr/bin/env node
// Slipway's server tree: what a server runs, and nothing of the development checkout. It is
// the build context of the api and worker images (docker/*.Dockerfile) and what a package-style
// install puts in /opt/slipway (docker/systemd). Made from the production build
// (scripts/build-server.mjs, run here) and the dashboard's build (apps/web/dist, built first):
//   apps/{api,worker}/dist   the bundles (their installed imports listed in installed.json)
//   apps/web/dist            the dashboard, served by the API
//   node_modules/.pnpm/...   only the installed packages the bundles import, with everything
//                            those depend on (pnpm's own layout, links kept relative)
//   prisma/migrations        what the migration command (apps/api/dist/migrate) applies
//   *.Dockerfile             docker/api.Dockerfile and docker/worker.Dockerfile
// Usage: node scripts/pack-server.mjs <outdir>   (the folder is replaced)
import { spawnSync } from 'node:child_process'
import { cp, lstat, mkdir, readdir, readFile, readlink, rm, stat } from 'node:fs/promises'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const pnpmDir = path.join(root, 'node_modules', '.pnpm')
const out = process.argv[2]
if (!out) {
  console.error('usage: node scripts/pack-server.mjs <outdir>')
  process.exit(2)
}
const outdir = path.resolve(out)
if (outdir === root || root.startsWith(`${outdir}${path.sep}`)) {
  console.error(`refusing to replace ${outdir}: it holds the checkout`)
  process.exit(2)
}

/** The .pnpm folder a path inside node_modules/.pnpm belongs to. */
function pnpmFolderOf(file) {
  const relative = path.relative(pnpmDir, file)
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new Error(`${file} is not an installed package under ${pnpmDir}`)
  }
  return relative.split(path.sep)[0]
}

/** The package names in a node_modules folder (scoped ones as @scope/name). */
async function packageNames(folder) {
  const names = []
  for (const entry of await readdir(folder).catch((error) => {
    if (error.code === 'ENOENT') return []
    throw error
  })) {
    if (entry.startsWith('.')) continue
    if (entry.startsWith('@')) {
      for (const name of await readdir(path.join(folder, entry))) names.push(`${entry}/${name}`)
    } else names.push(entry)
  }
  return names
}

/** The optional peer dependencies of the packages a .pnpm folder holds (not followed). */
async function optionalPeers(modules, names) {
  const optional = new Set()
  for (const name of names) {
    const folder = path.join(modules, name)
    if ((await lstat(folder)).isSymbolicLink()) continue
    const manifest = JSON.parse(await readFile(path.join(folder, 'package.json'), 'utf8'))
    for (const [peer, meta] of Object.entries(manifest.peerDependenciesMeta ?? {})) {
      if (meta?.optional) optional.add(peer)
    }
  }
  return optional
}

/**
 * The .pnpm folders `seeds` need: each one, and every folder its dependencies link to, but for
 * optional peers (@prisma/client's link to Prisma's CLI, say: not loaded at run time).
 */
async function closure(seeds) {
  const needed = new Set()
  const queue = [...seeds]
  while (queue.length > 0) {
    const folder = queue.pop()
    if (needed.has(folder)) continue
    needed.add(folder)
    const modules = path.join(pnpmDir, folder, 'node_modules')
    const names = await packageNames(modules)
    const skipped = await optionalPeers(modules, names)
    for (const name of names) {
      const link = path.join(modules, name)
      if (skipped.has(name) || !(await lstat(link)).isSymbolicLink()) continue
      queue.push(pnpmFolderOf(path.resolve(path.dirname(link), await readlink(link))))
    }
  }
  return needed
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  if (result.status !== 0) {
    console.error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`)
    process.exit(1)
  }
}

const started = Date.now()
const web = path.join(root, 'apps', 'web', 'dist', 'index.html')
if (!(await stat(web).catch(() => undefined))) {
  console.error(`the dashboard is not built (${web} is missing): pnpm --filter @slipway/web build`)
  process.exit(1)
}
run(process.execPath, [path.join(root, 'scripts', 'build-server.mjs')])

await rm(outdir, { recursive: true, force: true })
await mkdir(outdir, { recursive: true })
const seeds = new Set()
for (const app of ['api', 'worker']) {
  const dist = path.join(root, 'apps', app, 'dist')
  for (const imported of JSON.parse(await readFile(path.join(dist, 'installed.json'), 'utf8'))) {
    seeds.add(pnpmFolderOf(path.resolve(dist, imported)))
  }
  await cp(dist, path.join(outdir, 'apps', app, 'dist'), { recursive: true })
}
await cp(path.join(root, 'apps', 'web', 'dist'), path.join(outdir, 'apps', 'web', 'dist'), {
  recursive: true,
})

// The migration command (apps/api/dist/migrate/main.mjs) reads the migrations from here.
await cp(path.join(root, 'prisma', 'migrations'), path.join(outdir, 'prisma', 'migrations'), {
  recursive: true,
})

/**
 * Files of installed packages a server never loads: type declarations, source maps, and
 * Prisma's query compilers for databases other than PostgreSQL (~60 MB of the ~150).
 */
const unused = /(\.d\.[cm]?ts|\.map|query_compiler_\w+_bg\.(?!postgresql\.)\w+\.\S+)$/
const folders = await closure(seeds)
for (const folder of folders) {
  await cp(path.join(pnpmDir, folder), path.join(outdir, 'node_modules', '.pnpm', folder), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (source) => !unused.test(path.basename(source)),
  })
}
for (const file of ['api.Dockerfile', 'worker.Dockerfile']) {
  await cp(path.join(root, 'docker', file), path.join(outdir, file))
}
process.stdout.write(
  `[pack] ${path.relative(process.cwd(), outdir) || '.'}: ${folders.size} installed packages in ${Date.now() - started} ms\n`,
)
