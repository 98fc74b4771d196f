#!/usr/bin/env node
import { randomUUID } from 'node:crypto'
// Drop-in replacement for Prisma's native `schema-engine` binary, for machines that cannot
// download it from binaries.prisma.sh. Point the Prisma 7 CLI at it with
//
//   PRISMA_SCHEMA_ENGINE_BINARY=./scripts/schema-engine-wasm-shim.mjs
//
// and `prisma migrate dev|deploy|status|reset|resolve|diff`, `prisma db push|pull|execute` and
// `prisma generate` run unmodified. It speaks the same stdio JSON-RPC protocol as the native
// binary and forwards every request to the official WebAssembly build of the same engine
// (npm: @prisma/schema-engine-wasm), which reaches PostgreSQL through @prisma/adapter-pg + pg.
// PostgreSQL only.
import fs from 'node:fs/promises'
import readline from 'node:readline'
import { PrismaPg } from '@prisma/adapter-pg'
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'
import { SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg'
import pg from 'pg'

// ---------------------------------------------------------------- arguments
const args = process.argv.slice(2)
const datamodelPaths = []
let datasource = {}
let cliCommand = null
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  if (a === '--datamodels') datamodelPaths.push(args[++i])
  else if (a === '--datasource') datasource = JSON.parse(args[++i])
  else if (a === '--enabled-preview-features' || a === '--extension-types') i++
  else if (a === '--version' || a === '-V') {
    const pkg = JSON.parse(
      await fs.readFile(
        new URL('./package.json', import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg')),
        'utf8',
      ),
    )
    process.stdout.write(
      `schema-engine-cli ${pkg.version.split('.').pop()} (wasm shim, @prisma/schema-engine-wasm@${pkg.version})\n`,
    )
    process.exit(0)
  } else if (a === 'cli') cliCommand = args[++i]
}
const url = datasource.url
const shadowUrl = datasource.shadowDatabaseUrl

const logLine = (obj) => process.stderr.write(`${JSON.stringify(obj)}\n`)
const log = (level, message, extra = {}) =>
  logLine({ level, fields: { message, ...extra }, target: 'schema_engine::logger' })

// ---------------------------------------------------------------- pg helpers
// `?schema=name` in the URL: like the native engine, run everything with that search_path.
function pgConfig(connectionString) {
  const schema = new URL(connectionString).searchParams.get('schema')
  return {
    connectionString,
    options: schema ? `-c search_path="${schema.replaceAll('"', '""')}"` : undefined,
  }
}
function withDatabase(connUrl, dbName) {
  const u = new URL(connUrl)
  u.pathname = `/${encodeURIComponent(dbName)}`
  return u.toString()
}
function dbNameOf(connUrl) {
  return decodeURIComponent(new URL(connUrl).pathname.replace(/^\//, '')) || 'postgres'
}
// A connection to a maintenance database, used to CREATE / DROP databases.
async function adminClient(connUrl) {
  for (const db of ['postgres', 'template1']) {
    const c = new pg.Client({ connectionString: withDatabase(connUrl, db) })
    try {
      await c.connect()
      return c
    } catch (e) {
      await c.end().catch(() => {})
      if (e.code !== '3D000') throw e
    }
  }
  throw new Error('could not connect to a maintenance database (postgres/template1)')
}

// Map a pg connection error to the Prisma error codes the CLI understands.
function connectionError(e, connUrl) {
  const u = new URL(connUrl)
  const at = `${u.hostname}:${u.port || 5432}`
  if (e.code === '3D000')
    return {
      code: 'P1003',
      message: `Database \`${dbNameOf(connUrl)}\` does not exist on the database server at \`${at}\`.`,
    }
  if (e.code === '28P01' || e.code === '28000')
    return {
      code: 'P1000',
      message: `Authentication failed against database server at \`${at}\`, the provided database credentials for \`${decodeURIComponent(u.username)}\` are not valid.`,
    }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(e.code))
    return {
      code: 'P1001',
      message: `Can't reach database server at \`${at}\`\n\nPlease make sure your database server is running at \`${at}\`.`,
    }
  return { code: null, message: e.message }
}

// ---------------------------------------------------------------- driver adapter
// 1) @prisma/adapter-pg rejects the internal single-byte catalog type "char" (OID 18, e.g.
//    pg_class.relkind) that the schema engine's introspection queries return; report it as TEXT.
const OID_REWRITES = { 18: 25 }
function patchResult(res) {
  for (const r of Array.isArray(res) ? res : [res])
    for (const f of r?.fields ?? []) if (OID_REWRITES[f.dataTypeID]) f.dataTypeID = OID_REWRITES[f.dataTypeID]
  return res
}
class CatalogSafeClient extends pg.Client {
  query(config, values, callback) {
    if (typeof values === 'function') {
      callback = values
      values = undefined
    }
    if (typeof callback === 'function')
      return super.query(config, values, (err, res) => callback(err, err ? res : patchResult(res)))
    const ret = super.query(config, values)
    return ret && typeof ret.then === 'function' ? ret.then(patchResult) : ret
  }
}
const schemaParam = url ? (new URL(url).searchParams.get('schema') ?? undefined) : undefined
const pgOptions = schemaParam ? { schema: schemaParam } : {}

async function connectAdapter(connectionString) {
  const pool = new pg.Pool({ ...pgConfig(connectionString), Client: CatalogSafeClient })
  const adapter = await new PrismaPg(pool, { ...pgOptions, disposeExternalPool: true }).connect()
  // 2) adapter-pg's executeScript() splits on every ';' (breaks $$-quoted function bodies and
  //    string literals). Send the script as ONE simple-protocol query, like the native engine
  //    (PostgreSQL then runs a multi-statement migration in one implicit transaction).
  adapter.executeScript = async (script) => {
    try {
      await adapter.underlyingDriver().query(script)
    } catch (e) {
      adapter.onError(e)
    }
  }
  return adapter
}

const factory = {
  provider: 'postgres',
  adapterName: '@prisma/adapter-pg',
  async connect() {
    if (!url) throw new Error('No datasource url: set datasource.url in prisma.config.ts')
    return connectAdapter(url)
  },
  // 3) PrismaPg({connectionString}).connectToShadowDb() would connect the "shadow" adapter to the
  //    MAIN database (pg's connectionString overrides `database`), so it is implemented here.
  async connectToShadowDb() {
    if (shadowUrl) return connectAdapter(shadowUrl)
    const name = `prisma_migrate_shadow_db_${randomUUID()}`
    const admin = await adminClient(url)
    await admin.query(`CREATE DATABASE "${name}"`)
    await admin.end()
    const adapter = await connectAdapter(withDatabase(url, name))
    const dispose = adapter.dispose.bind(adapter)
    adapter.dispose = async () => {
      await dispose()
      const c = await adminClient(url)
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await c.end()
    }
    return adapter
  },
}

// ---------------------------------------------------------------- one-shot `cli` subcommands
if (cliCommand) {
  // The CLI skips the first stderr line and parses the rest as JSON log lines.
  log('INFO', 'Starting schema engine CLI (wasm shim)')
  if (!url) {
    log('ERROR', 'No datasource url: set datasource.url in prisma.config.ts')
    process.exit(1)
  }
  try {
    if (cliCommand === 'can-connect-to-database') {
      const c = new pg.Client({ connectionString: url })
      await c.connect()
      await c.end()
    } else if (cliCommand === 'create-database') {
      const admin = await adminClient(url)
      await admin.query(`CREATE DATABASE "${dbNameOf(url).replaceAll('"', '""')}"`)
      await admin.end()
      process.stdout.write(`Database '${dbNameOf(url)}' was successfully created.\n`)
    } else if (cliCommand === 'drop-database') {
      const admin = await adminClient(url)
      await admin.query(`DROP DATABASE "${dbNameOf(url).replaceAll('"', '""')}"`)
      await admin.end()
      process.stdout.write(`The database '${dbNameOf(url)}' was successfully dropped.\n`)
    } else {
      throw new Error(`unsupported schema-engine cli command: ${cliCommand}`)
    }
    process.exit(0)
  } catch (e) {
    const { code, message } = connectionError(e, url)
    log('ERROR', message, code ? { error_code: code } : {})
    process.exit(1)
  }
}

// ---------------------------------------------------------------- JSON-RPC server over stdio
const datamodels = []
for (const p of datamodelPaths) datamodels.push([p, await fs.readFile(p, 'utf8')])

// Every request gets a brand-new wasm instance + JS glue module (the glue keeps its instance in
// module-level state, so it is re-imported with a unique query string); the compiled module is
// shared. Two quirks of the wasm engine are worked around here:
//  * evaluateDataLoss / createMigration never ask the adapter factory for a shadow database; they
//    only work on an engine that already opened one (e.g. through devDiagnostic), otherwise they fail
//    with "PostgreSQL shadow DB must be provided through an external factory". So they are "primed"
//    with a devDiagnostic call (read-only) on the same engine.
//  * after applyMigrations has applied something, that same engine loses its shadow database too,
//    hence one engine per request.
const gluePath = import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg')
const NEEDS_SHADOW_PRIMING = new Set(['evaluateDataLoss', 'createMigration'])
let wasmModule
let instanceCounter = 0
async function withEngine(fn) {
  wasmModule ??= new WebAssembly.Module(await fs.readFile(new URL('./schema_engine_bg.wasm', gluePath)))
  const glue = await import(`${gluePath}?instance=${++instanceCounter}`)
  const instance = new WebAssembly.Instance(wasmModule, { './schema_engine_bg.js': glue })
  glue.__wbg_set_wasm(instance.exports)
  instance.exports.__wbindgen_start()
  const engine = await glue.SchemaEngine.new(
    { datamodels: datamodels.length ? datamodels : undefined },
    (line) => process.stderr.write(`${String(line).trimEnd()}\n`),
    bindMigrationAwareSqlAdapterFactory(factory),
  )
  try {
    return await fn(engine)
  } finally {
    engine.free()
  }
}
async function callEngine(method, params) {
  return withEngine(async (engine) => {
    if (NEEDS_SHADOW_PRIMING.has(method) && params?.migrationsList) {
      await engine.devDiagnostic({ migrationsList: params.migrationsList, filters: params.filters })
    }
    return engine[method](params)
  })
}

const send = (msg) => process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', ...msg })}\n`)
let printId = 1_000_000

function toRpcError(e) {
  if (e instanceof WebAssembly.RuntimeError || /unreachable|RuntimeError/.test(e?.name ?? '')) {
    return {
      code: 4466,
      message: 'An error happened. Check the data field for details.',
      data: {
        is_panic: true,
        message: e.message,
        error: { message: e.message },
        meta: null,
        error_code: null,
      },
    }
  }
  const message = e?.message ?? String(e)
  const error_code = typeof e?.code === 'string' ? e.code : null
  return {
    code: 4466,
    message: 'An error happened. Check the data field for details.',
    data: { is_panic: false, message, meta: e?.meta ?? null, error_code },
  }
}

const handlers = {
  getDatabaseVersion(params) {
    return withEngine((engine) => engine.version(params ?? null))
  },
  async createDatabase(params) {
    const target = params?.datasource?.tag === 'ConnectionString' ? params.datasource.url : url
    const admin = await adminClient(target)
    await admin.query(`CREATE DATABASE "${dbNameOf(target).replaceAll('"', '""')}"`)
    await admin.end()
    return { databaseName: dbNameOf(target) }
  },
  async dbExecute(params) {
    // Run the script directly with pg (one simple-protocol query).
    const target = params.datasourceType?.tag === 'url' ? params.datasourceType.url : url
    const c = new pg.Client(pgConfig(target))
    await c.connect()
    try {
      await c.query(params.script)
    } finally {
      await c.end()
    }
    return null
  },
  async diff(params) {
    const { stdout, ...rest } = await withEngine((engine) => engine.diff(params))
    // The native engine prints through a `print` request to the CLI, which appends a newline.
    if (stdout) send({ id: printId++, method: 'print', params: { content: stdout.replace(/\n$/, '') } })
    return rest
  },
}

let queue = Promise.resolve()
async function handle(req) {
  try {
    const fn =
      handlers[req.method] ??
      (typeof SchemaEngine.prototype[req.method] === 'function' ? (p) => callEngine(req.method, p) : null)
    if (!fn) throw new Error(`Unsupported schema engine method in wasm shim: ${req.method}`)
    const result = await fn(req.params)
    send({ id: req.id, result: result === undefined ? null : result })
  } catch (e) {
    send({ id: req.id, error: toRpcError(e) })
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (!line.trim()) return
  let msg
  try {
    msg = JSON.parse(line)
  } catch {
    return
  }
  if (!msg.method) return // a response to one of our `print` requests
  queue = queue.then(() => handle(msg))
})
rl.on('close', async () => {
  await queue
  process.exit(0)
})
