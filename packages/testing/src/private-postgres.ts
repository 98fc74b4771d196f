import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { applyMigrations } from './postgres.ts'

const run = promisify(execFile)

/** Runs a shell command as the postgres user (PostgreSQL refuses to run as root). */
async function asPostgres(command: string): Promise<string> {
  const { stdout } = await run('su', ['postgres', '-s', '/bin/sh', '-c', command], { timeout: 120_000 })
  return stdout
}

/**
 * A PostgreSQL server of one test alone, so the test may crash and restart it without
 * touching the fleet's. Its database `slipway` has the current schema.
 */
export class PrivatePostgres {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly bin: string,
  ) {}

  /** On `port` of 127.0.0.1 (the caller picks a free one, e.g. with freePort from this package). */
  static async create(port: number): Promise<PrivatePostgres> {
    const version = (await readdir('/usr/lib/postgresql')).sort().at(-1)
    if (!version) throw new Error('no PostgreSQL under /usr/lib/postgresql')
    const server = new PrivatePostgres(
      port,
      `/tmp/slipway-pg-${randomBytes(4).toString('hex')}`,
      `/usr/lib/postgresql/${version}/bin`,
    )
    await asPostgres(
      `mkdir -p '${server.dir}' && ${server.bin}/initdb -D '${server.dir}/data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null`,
    )
    await server.start()
    await asPostgres(`psql -h 127.0.0.1 -p ${server.port} -U postgres -w -qc 'create database slipway'`)
    await applyMigrations(server.url)
    return server
  }

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/slipway`
  }

  async start(): Promise<void> {
    await asPostgres(
      `${this.bin}/pg_ctl -D '${this.dir}/data' -l '${this.dir}/postgres.log' -w -t 60 start -o "-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" >/dev/null`,
    )
  }

  /** Stops at once without a clean shutdown, as a crash would; the next start recovers. */
  async crash(): Promise<void> {
    await asPostgres(`${this.bin}/pg_ctl -D '${this.dir}/data' -m immediate -w stop >/dev/null`)
  }

  async remove(): Promise<void> {
    await asPostgres(`${this.bin}/pg_ctl -D '${this.dir}/data' -m fast -w stop >/dev/null`).catch(
      () => undefined,
    )
    await rm(this.dir, { recursive: true, force: true })
  }
}
