import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

/**
 * Instances live on Docker hosts that are other machines: they are published on, health-
 * checked at and routed to at their host's address, never at this machine's loopback. This
 * test reads the product code (`packages/* /src`, `apps/* /src`; not tests, `test/`,
 * `test-support/` or generated code) for the literal 127.0.0.1 and fails naming file:line.
 * Slipway's own listeners run on this machine and may use it: each file that does is listed
 * here with the reason. An entry that no longer matches anything fails too (remove it).
 */
const allowed: Record<string, string> = {
  'apps/api/src/env.ts': "the API's default bind address (SLIPWAY_HOST): Slipway's own listener",
  'apps/api/src/settings.ts':
    "the API's default public URL (SLIPWAY_PUBLIC_URL) when built without one: its own listener",
  'apps/worker/src/env.ts':
    "the default public URL of the dashboard (SLIPWAY_PUBLIC_URL), for links in notifications, and the gateway's default bind address",
  'apps/web/src/pages/EnvironmentPage.tsx':
    "the environment's gateway port, on Slipway's machine where the gateway listens",
  'packages/contracts/src/environments.ts':
    "the gateway port's doc comment: the gateway listens on Slipway's machine",
  'packages/contracts/src/registries.ts': 'an example registry address in a doc comment (not an instance)',
  'packages/gateway/src/agent/agent.ts':
    "the sites' default bind address: the gateway's own listener (GATEWAY_BIND_ADDRESS sets another)",
  'apps/worker/src/worker.ts': "the gateway's default bind address, in a doc comment",
  'packages/gateway/src/haproxy/process.ts':
    "HAProxy's own health frontend on Slipway's machine, and its check of it",
  'packages/gateway/src/haproxy/render.ts':
    "the sites' default bind address and the health frontend: the gateway's own listeners (backends use instance.address)",
  'packages/gateway/src/metrics/haproxy-fixture.ts':
    'test support outside test-support/: a private HAProxy and its node:http upstreams on this machine',
  'packages/testing/src/private-postgres.ts': "tests' own PostgreSQL, listening on this machine",
  'packages/testing/src/load.ts': 'the load generator sends to the gateway, which listens on this machine',
  'packages/testing/src/ports.ts': "freePort: free ports for tests' own listeners on this machine",
  'packages/testing/src/git-repo.ts': "tests' own password-protected git server, listening on this machine",
  'packages/rollout/src/swarm.ts':
    "a Swarm task's health check runs inside the task's own network namespace: its 127.0.0.1 is the container",
}

const literal = '127.0.0.1'

function repoRoot(): string {
  let dir = import.meta.dirname
  while (!existsSync(path.join(dir, 'pnpm-workspace.yaml'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('no pnpm-workspace.yaml above this test')
    dir = parent
  }
  return dir
}

const skippedDirs = new Set(['node_modules', 'generated', 'test', 'test-support', 'dist'])
const isSource = (name: string) => /\.(ts|tsx|mts|js|mjs)$/.test(name) && !/\.test\.tsx?$/.test(name)

/** Product source files under `dir`, relative to `root`. */
function sources(root: string, dir: string): string[] {
  const found: string[] = []
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const relative = `${dir}/${entry.name}`
    if (entry.isDirectory()) {
      if (!skippedDirs.has(entry.name)) found.push(...sources(root, relative))
    } else if (entry.isFile() && isSource(entry.name)) found.push(relative)
  }
  return found
}

describe('nothing assumes an instance is on 127.0.0.1', () => {
  it('product code names 127.0.0.1 only for Slipway’s own listeners, each with a reason', () => {
    const root = repoRoot()
    const files = ['packages', 'apps'].flatMap((top) =>
      readdirSync(path.join(root, top), { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && existsSync(path.join(root, top, entry.name, 'src')))
        .flatMap((entry) => sources(root, `${top}/${entry.name}/src`)),
    )
    expect(files.length).toBeGreaterThan(100)
    const hits: string[] = []
    const used = new Set<string>()
    for (const file of files) {
      const lines = readFileSync(path.join(root, file), 'utf8').split('\n')
      lines.forEach((line, index) => {
        if (!line.includes(literal)) return
        if (file in allowed) used.add(file)
        else hits.push(`${file}:${index + 1}: ${line.trim()}`)
      })
    }
    expect(hits, 'use the instance’s or the host’s address, or allow the file here with a reason').toEqual([])
    const stale = Object.keys(allowed).filter((file) => !used.has(file))
    expect(stale, 'allowed files that no longer name 127.0.0.1: remove them from the list').toEqual([])
  })
})
