import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { type Db, type Prisma, secretContext } from '@slipway/db'
import Docker from 'dockerode'

/** Slipway's client certificate and the fleet CA, as PEM text. */
export interface FleetTls {
  ca: string
  cert: string
  key: string
}

/** One fleet host as Slipway stores it: `new DockerodeHost(name, fleetHost(name))`. */
export interface FleetHost {
  name: string
  /** tcp://<address>:2376 */
  endpoint: string
  tls: FleetTls
  /** The host's own address on the fleet LAN (its instances are reached there). */
  address: string
}

/** Where the local fleet (docker/fleet.sh) runs: addresses and credentials. */
export interface Fleet {
  databaseUrl: string
  pgAdminUrl: string
  redisUrl: string
  /** The registry on the fleet LAN, over TLS signed by the fleet CA. */
  registry: { url: string; username: string; password: string }
  /** Docker host name -> endpoint (tcp://<address>:2376, mutual TLS with `tls`). */
  hosts: Record<string, string>
  /** Slipway's client certificate for every host, and the fleet CA. */
  tls: FleetTls
  /** The folder holding the PEM files (ca.pem, cert.pem, key.pem, ca-key.pem). */
  tlsDir: string
  gatewayDir: string
  gatewayPort: number
  demoRepoUrl: string
  /** This machine's address on the fleet LAN (.1 of FLEET_LAN): what the hosts reach it at. */
  lanAddress: string
  root: string
}

function findRoot(from: string): string {
  let dir = from
  while (!existsSync(path.join(dir, 'pnpm-workspace.yaml'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`no pnpm-workspace.yaml above ${from}`)
    dir = parent
  }
  return dir
}

function readEnvFile(file: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line)
    if (match?.[1]) values[match[1]] = match[2] ?? ''
  }
  return values
}

let cached: Fleet | undefined

/**
 * The fleet the tests run against: `.slipway/fleet.env` written by `docker/fleet.sh up`
 * (the README's test command starts the fleet first). Fails with the command to run when
 * the fleet is not up.
 */
export function fleet(): Fleet {
  if (cached) return cached
  const root = findRoot(process.cwd())
  const stateDir = process.env.SLIPWAY_STATE ?? path.join(root, '.slipway')
  const file = path.join(stateDir, 'fleet.env')
  if (!existsSync(file))
    throw new Error(`the local fleet is not up (${file} is missing): run docker/fleet.sh up`)
  const env = readEnvFile(file)
  const need = (key: string): string => {
    const value = env[key]
    if (!value) throw new Error(`${file} has no ${key}: run docker/fleet.sh up`)
    return value
  }
  const hosts: Record<string, string> = {}
  for (const entry of need('FLEET_HOSTS').split(',')) {
    const at = entry.indexOf('=')
    hosts[entry.slice(0, at)] = entry.slice(at + 1)
  }
  const tlsDir = need('FLEET_TLS_DIR')
  const pem = (name: string) => readFileSync(path.join(tlsDir, name), 'utf8')
  cached = {
    tls: { ca: pem('ca.pem'), cert: pem('cert.pem'), key: pem('key.pem') },
    tlsDir,
    databaseUrl: need('DATABASE_URL'),
    pgAdminUrl: need('PG_ADMIN_URL'),
    redisUrl: need('REDIS_URL'),
    registry: {
      url: need('REGISTRY_URL'),
      username: need('REGISTRY_USERNAME'),
      password: need('REGISTRY_PASSWORD'),
    },
    hosts,
    gatewayDir: need('GATEWAY_DIR'),
    gatewayPort: Number(need('GATEWAY_PORT')),
    demoRepoUrl: need('DEMO_REPO_URL'),
    lanAddress: need('FLEET_LAN').replace(/\.0\/24$/, '.1'),
    root,
  }
  return cached
}

export function hostEndpoint(name: string): string {
  const endpoint = fleet().hosts[name]
  if (!endpoint)
    throw new Error(`the fleet has no Docker host ${name} (hosts: ${Object.keys(fleet().hosts).join(', ')})`)
  return endpoint
}

/** A fleet host with its TLS material and address, ready for a driver or a host row. */
export function fleetHost(name: string): FleetHost {
  const endpoint = hostEndpoint(name)
  return { name, endpoint, tls: fleet().tls, address: new URL(endpoint).hostname }
}

/** A plain dockerode client for a fleet host (over TCP with the fleet's TLS), for fixtures. */
export function dockerClient(name: string): Docker {
  return dockerAt(fleetHost(name).endpoint)
}

/** A client for the Docker host at `endpoint` on the fleet LAN (the fleet's or an extra one). */
export function dockerAt(endpoint: string): Docker {
  const url = new URL(endpoint)
  return new Docker({ host: url.hostname, port: Number(url.port), protocol: 'https', ...fleet().tls })
}

/** Seals a secret for one column (a `SecretBox`'s `encrypt`). */
type Seal = (plain: string, context: string) => string

/**
 * Stores a fleet host as Slipway would after `POST /api/hosts`: its endpoint, address and TLS
 * material, the key sealed with `seal` for that row.
 */
export async function createFleetHostRow(
  db: Db,
  name: string,
  seal: Seal,
  data: Omit<Prisma.HostUncheckedCreateInput, 'name' | 'endpoint' | 'address'> = {},
): Promise<{ id: string; name: string }> {
  const host = fleetHost(name)
  const row = await db.host.create({
    data: {
      ...data,
      name,
      endpoint: host.endpoint,
      address: host.address,
      tlsCaPem: host.tls.ca,
      tlsCertPem: host.tls.cert,
    },
  })
  await db.host.update({
    where: { id: row.id },
    data: { tlsKeyEnc: seal(host.tls.key, secretContext.hostTlsKey(row.id)) },
  })
  return { id: row.id, name }
}
