import { readFileSync } from 'node:fs'
import path from 'node:path'
import { isAppError } from '@slipway/core'
import { describe, expect, test } from 'vitest'
import { planServers } from './converge.ts'
import { canonicalAddress, renderMainConfig, renderSite, type SiteServer, siteNames } from './render.ts'

const one: SiteServer = { id: 'one', host: 'pre-1', address: '10.222.42.3', port: 32001 }
const two: SiteServer = { id: 'two', host: 'prod-1', address: '10.222.42.4', port: 32002 }
const site = { project: 'demo', environment: 'pre-release', listenPort: 18001 }

describe('renderSite', () => {
  test('a frontend on 127.0.0.1:listenPort and a round-robin backend of the instances', () => {
    const rendered = renderSite({ ...site, instances: [two, one] })
    expect(rendered).toMatchObject({
      key: 'demo_pre-release',
      fileName: 'demo_pre-release.cfg',
      frontend: 'fe_demo_pre-release_18001',
      backend: 'be_demo_pre-release',
      servers: [one, two],
    })
    const body = rendered.text.split('\n').filter((line) => !line.startsWith('#'))
    expect(body).toEqual([
      'frontend fe_demo_pre-release_18001',
      '  bind 127.0.0.1:18001',
      '  default_backend be_demo_pre-release',
      '',
      'backend be_demo_pre-release',
      '  balance roundrobin',
      '  http-error status 503 content-type application/json hdr Retry-After 5 string "{\\"error\\":{\\"code\\":\\"DEPENDENCY_UNAVAILABLE\\",\\"message\\":\\"no live instance of demo/pre-release\\"}}"',
      '  server one 10.222.42.3:32001',
      '  server two 10.222.42.4:32002',
      '',
    ])
    expect(rendered.text).toContain(`# site demo/pre-release version ${rendered.version}`)
  })

  test('stable: the same instances in any order give the same text and version', () => {
    const a = renderSite({ ...site, instances: [one, two] })
    const b = renderSite({ ...site, instances: [two, one] })
    expect(b.text).toBe(a.text)
    expect(b.version).toMatch(/^[0-9a-f]{16}$/)
    expect(renderSite({ ...site, instances: [one] }).version).not.toBe(a.version)
    expect(renderSite({ ...site, listenPort: 18002, instances: [one, two] }).version).not.toBe(a.version)
  })

  test('an empty site has a backend without servers (HAProxy answers its 503 with the JSON)', () => {
    const rendered = renderSite({ ...site, instances: [] })
    expect(rendered.servers).toEqual([])
    expect(rendered.text).not.toContain('  server ')
    expect(rendered.text).toContain('http-error status 503')
  })

  test('one server per id (the lower host-port wins); IPv6 in brackets, compressed', () => {
    const twin = { ...one, host: 'pre-0' }
    const v6 = { id: 'six', host: 'prod-2', address: '2001:DB8:0:0:0:0:0:1', port: 32003 }
    const rendered = renderSite({ ...site, instances: [one, v6, twin] })
    expect(rendered.servers).toEqual([twin, { ...v6, address: '2001:db8::1' }])
    expect(rendered.text).toContain('  server six [2001:db8::1]:32003\n')
    expect(canonicalAddress('::FFFF:10.0.0.1')).toBe('::ffff:a00:1')
  })

  test('rejects what could inject a directive or a command', () => {
    const bad = [
      { ...site, project: 'Demo' },
      { ...site, environment: 'pre_release' },
      { ...site, listenPort: 70000 },
      { ...site, instances: [{ ...one, id: 'one\n  bind :80' }] },
      { ...site, instances: [{ ...one, id: 'a/b' }] },
      { ...site, instances: [{ ...one, address: 'pre-1.lan' }] },
      { ...site, instances: [{ ...one, port: 0 }] },
      { ...site, bindAddress: 'gateway.lan' },
      { ...site, bindAddress: '0.0.0.0:80\n  bind :81' },
    ]
    for (const config of bad) {
      const error = (() => {
        try {
          renderSite({ instances: [], ...config })
        } catch (caught) {
          return caught
        }
      })()
      expect(isAppError(error) && error.code).toBe('VALIDATION_FAILED')
    }
  })

  test('a bind address for a gateway that serves other machines (IPv4, IPv6 in brackets)', () => {
    const bindLine = (bindAddress: string) =>
      renderSite({ ...site, bindAddress, instances: [one] })
        .text.split('\n')
        .find((line) => line.startsWith('  bind '))
    expect(bindLine('0.0.0.0')).toBe('  bind 0.0.0.0:18001')
    expect(bindLine('10.222.42.10')).toBe('  bind 10.222.42.10:18001')
    expect(bindLine('::')).toBe('  bind [::]:18001')
    expect(renderSite({ ...site, bindAddress: '0.0.0.0', instances: [one] }).version).not.toBe(
      renderSite({ ...site, instances: [one] }).version,
    )
  })

  test('names: the port is in the frontend name', () => {
    expect(siteNames('demo', 'prod', 8080)).toEqual({
      key: 'demo_prod',
      fileName: 'demo_prod.cfg',
      frontend: 'fe_demo_prod_8080',
      backend: 'be_demo_prod',
    })
  })
})

describe('renderMainConfig', () => {
  test("is docker/fleet.sh's gateway config, folder and port put in", () => {
    const script = readFileSync(path.resolve(import.meta.dirname, '../../../../docker/fleet.sh'), 'utf8')
    const heredoc = /cat >"\$dir\/haproxy\.cfg" <<CFG\n([\s\S]*?)\nCFG\n/.exec(script)?.[1]
    expect(heredoc).toBeDefined()
    const fleet = `${heredoc?.replaceAll('$dir', '/tmp/gw').replaceAll('$GATEWAY_PORT', '8088')}\n`
    expect(renderMainConfig({ dir: '/tmp/gw', port: 8088 })).toBe(fleet)
  })

  test("is docker/gateway.cfg, the compose file's gateway (its folder, port 8088)", () => {
    const file = readFileSync(path.resolve(import.meta.dirname, '../../../../docker/gateway.cfg'), 'utf8')
    const config = file.replace(/^(#.*\n)+/, '')
    expect(config).toBe(renderMainConfig({ dir: '/var/lib/slipway/gateway', port: 8088 }))
  })

  test('the fleet layout: admin socket in the folder, health frontend on the port', () => {
    const text = renderMainConfig({ dir: '/tmp/gw', port: 8088 })
    expect(text).toContain('  stats socket /tmp/gw/admin.sock mode 600 level admin expose-fd listeners\n')
    expect(text).toContain('  bind 127.0.0.1:8088\n')
    expect(text).toContain('  option idle-close-on-response\n')
    expect(text).toMatch(/^global\n {2}master-worker\n/)
  })
})

describe('planServers', () => {
  const live = (name: string, admin = 0, address = '10.222.42.3', port = 32001, weight = 1) => ({
    name,
    address,
    port,
    operational: 2,
    admin,
    weight,
  })

  test('adds and readies before it drains: a swap never empties the backend', () => {
    expect(planServers([two], [live('one')]).map((step) => step.kind)).toEqual(['add', 'drain'])
  })

  test('nothing to do when the live servers are the wanted ones', () => {
    expect(planServers([one, two], [live('one'), live('two', 0, '10.222.42.4', 32002)])).toEqual([])
  })

  test('a draining server wanted again is made ready; one already draining is left to finish', () => {
    expect(planServers([one], [live('one', 8), live('old', 8), live('gone', 1)])).toEqual([
      { kind: 'ready', name: 'one' },
    ])
  })

  test('a server at another address is moved', () => {
    expect(planServers([one], [live('one', 0, '10.222.42.9')])).toEqual([{ kind: 'address', server: one }])
  })

  test('weights follow what is wanted, in place (a canary moving its share); absent means 1', () => {
    const heavy = { ...one, weight: 95 }
    const light = { ...two, weight: 5 }
    expect(planServers([heavy, light], [live('one'), live('two', 0, '10.222.42.4', 32002)])).toEqual([
      { kind: 'weight', name: 'one', weight: 95 },
      { kind: 'weight', name: 'two', weight: 5 },
    ])
    expect(planServers([one], [live('one', 0, '10.222.42.3', 32001, 95)])).toEqual([
      { kind: 'weight', name: 'one', weight: 1 },
    ])
    expect(planServers([heavy], [live('one', 0, '10.222.42.3', 32001, 95)])).toEqual([])
    // A new server is added with its weight (one command).
    expect(planServers([light], [])).toEqual([{ kind: 'add', server: light }])
  })
})

describe('renderSite: weights', () => {
  test('a server line carries its weight unless it is 1; out of range is refused', () => {
    const lines = renderSite({
      ...site,
      instances: [
        { ...one, weight: 1 },
        { ...two, weight: 0 },
      ],
    })
      .text.split('\n')
      .filter((line) => line.startsWith('  server '))
    expect(lines).toEqual(['  server one 10.222.42.3:32001', '  server two 10.222.42.4:32002 weight 0'])
    for (const weight of [-1, 257, 1.5])
      expect(() => renderSite({ ...site, instances: [{ ...one, weight }] })).toThrow(/weight/)
  })
})

describe('renderSite: sticky sessions', () => {
  const secret = 'ab'.repeat(32)
  const backendLines = (rendered: { text: string }) =>
    rendered.text
      .slice(rendered.text.indexOf('\nbackend ') + 1)
      .split('\n')
      .filter(Boolean)

  test('an inserted, indirect dynamic cookie named after the site, keyed by the secret; server lines unchanged', () => {
    const rendered = renderSite({ ...site, instances: [one, { ...two, weight: 3 }], sticky: { secret } })
    expect(rendered.cookie).toMatch(/^SLIPWAY_[0-9a-f]{8}$/)
    const lines = backendLines(rendered)
    expect(lines[0]).toBe('backend be_demo_pre-release')
    expect(lines[1]).toBe('  balance roundrobin')
    expect(lines[2]).toBe(`  cookie ${rendered.cookie} insert indirect nocache httponly dynamic`)
    expect(lines[3]).toMatch(/^ {2}dynamic-cookie-key [0-9a-f]{64}$/)
    expect(lines.slice(-2)).toEqual([
      '  server one 10.222.42.3:32001',
      '  server two 10.222.42.4:32002 weight 3',
    ])
    // Nothing of the secret, the project or the environment in what a client sees.
    expect(rendered.text).not.toContain(secret)
    expect(rendered.cookie).not.toContain('demo')
  })

  test('stable per site and secret; another site, another secret or no sticky: another version', () => {
    const sticky = renderSite({ ...site, instances: [one], sticky: { secret } })
    expect(renderSite({ ...site, instances: [one], sticky: { secret } }).text).toBe(sticky.text)
    const plain = renderSite({ ...site, instances: [one] })
    expect(plain.cookie).toBeUndefined()
    expect(plain.text).not.toContain('cookie')
    expect(plain.version).not.toBe(sticky.version)
    const other = renderSite({ ...site, environment: 'production', instances: [one], sticky: { secret } })
    expect(other.cookie).not.toBe(sticky.cookie)
    const key = (rendered: { text: string }) => /dynamic-cookie-key (\w+)/.exec(rendered.text)?.[1]
    expect(key(other)).not.toBe(key(sticky))
    expect(key(renderSite({ ...site, instances: [one], sticky: { secret: 'cd'.repeat(32) } }))).not.toBe(
      key(sticky),
    )
  })

  test('a secret that is not plain hex is refused without being echoed', () => {
    for (const bad of ['', 'abc', 'AB'.repeat(32), `${'ab'.repeat(32)}\n  bind :80`]) {
      const error = (() => {
        try {
          renderSite({ ...site, instances: [one], sticky: { secret: bad } })
        } catch (caught) {
          return caught
        }
      })()
      expect(isAppError(error) && error.code).toBe('VALIDATION_FAILED')
      expect(isAppError(error) && bad.length > 0 && error.message.includes(bad)).toBe(false)
    }
  })
})
