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

/** A LAN address to listen on as well (this machine's address on the fleet LAN) and a password. */
export interface PostgresLan {
  address: string
  /** Letters and digits only (it goes into a shell command and a SQL literal). */
  password: string
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
    private readonly lan: PostgresLan | undefined,
  ) {}

  /**
   * On `port` of 127.0.0.1 (the caller picks a free one, e.g. with freePort from this package),
   * trusted there. With `lan`, also on that address of the fleet LAN, for the machines there
   * (the fleet's hosts), with the postgres user's password. `empty`: no migrations applied.
   */
  static async create(
    port: number,
    options: { lan?: PostgresLan; empty?: boolean } = {},
  ): Promise<PrivatePostgres> {
    if (options.lan && !/^[A-Za-z0-9]+$/.test(options.lan.password))
      throw new Error('the LAN password must be letters and digits')
    const version = (await readdir('/usr/lib/postgresql')).sort().at(-1)
    if (!version) throw new Error('no PostgreSQL under /usr/lib/postgresql')
    const server = new PrivatePostgres(
      port,
      `/tmp/slipway-pg-${randomBytes(4).toString('hex')}`,
      `/usr/lib/postgresql/${version}/bin`,
      options.lan,
    )
    await asPostgres(
      `mkdir -p '${server.dir}' && ${server.bin}/initdb -D '${server.dir}/data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null`,
    )
    if (options.lan) {
      // Trusted on loopback only; the LAN's machines sign in with the password.
      await asPostgres(
        `printf 'local all all trust\\nhost all all 127.0.0.1/32 trust\\nhost all all ${options.lan.address}/24 scram-sha-256\\n' > '${server.dir}/data/pg_hba.conf'`,
      )
    }
    await server.start()
    await asPostgres(`psql -h 127.0.0.1 -p ${server.port} -U postgres -w -qc 'create database slipway'`)
    if (options.lan) {
      await asPostgres(
        `psql -h 127.0.0.1 -p ${server.port} -U postgres -w -qc "ALTER USER postgres PASSWORD '${options.lan.password}'"`,
      )
    }
    if (!options.empty) await applyMigrations(server.url)
    return server
  }

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/slipway`
  }

  /** The database as the LAN's machines reach it (with `lan` only). */
  get lanUrl(): string {
    if (!this.lan) throw new Error('this PostgreSQL does not listen on the LAN')
    return `postgresql://postgres:${encodeURIComponent(this.lan.password)}@${this.lan.address}:${this.port}/slipway`
  }

  async start(): Promise<void> {
    const listen = ['127.0.0.1', ...(this.lan ? [this.lan.address] : [])].join(',')
    await asPostgres(
      `${this.bin}/pg_ctl -D '${this.dir}/data' -l '${this.dir}/postgres.log' -w -t 60 start -o "-p ${this.port} -k ${this.dir} -c listen_addresses=${listen} -c max_connections=200 -c fsync=off" >/dev/null`,
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
