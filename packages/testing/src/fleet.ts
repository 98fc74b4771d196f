import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'

/** Where the local fleet (docker/fleet.sh) runs: addresses and credentials. */
export interface Fleet {
  databaseUrl: string
  pgAdminUrl: string
  redisUrl: string
  registry: { url: string; username: string; password: string }
  /** Docker host name -> endpoint (unix:///...docker.sock). */
  hosts: Record<string, string>
  gatewayDir: string
  gatewayPort: number
  demoRepoUrl: string
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
  cached = {
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
