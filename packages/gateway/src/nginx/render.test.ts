import { isAppError } from '@slipway/core'
import { describe, expect, test } from 'vitest'
import { configPath, renderSite, type SiteConfig } from './render.ts'

const site: SiteConfig = {
  project: 'demo',
  environment: 'production',
  listenPort: 18080,
  instances: [
    { id: 'b2', host: 'prod-2', port: 32001 },
    { id: 'a1', host: 'prod-1', port: 32000 },
  ],
}

function rejects(change: Partial<SiteConfig>, field: string): void {
  try {
    renderSite({ ...site, ...change })
  } catch (error) {
    expect(isAppError(error) && error.code).toBe('VALIDATION_FAILED')
    expect((error as Error).message).toContain(field)
    return
  }
  throw new Error(`rendering with ${JSON.stringify(change)} did not throw`)
}

describe('renderSite', () => {
  test('renders one upstream and one server on 127.0.0.1:listenPort', () => {
    const rendered = renderSite(site)
    expect(rendered.fileName).toBe('demo_production.conf')
    expect(rendered.version).toMatch(/^[0-9a-f]{16}$/)
    expect(rendered.instanceIds).toEqual(['a1', 'b2'])
    const { text } = rendered
    expect(text.match(/^upstream /gm)).toHaveLength(1)
    expect(text.match(/^server \{/gm)).toHaveLength(1)
    expect(text).toContain('upstream slipway_demo_production {')
    expect(text).toContain('  listen 127.0.0.1:18080;')
    expect(text).toContain('  server 127.0.0.1:32000 max_fails=1 fail_timeout=5s; # a1 on prod-1')
    expect(text).toContain('  server 127.0.0.1:32001 max_fails=1 fail_timeout=5s; # b2 on prod-2')
    expect(text.indexOf('32000')).toBeLessThan(text.indexOf('32001'))
    expect(text).toContain('proxy_pass http://slipway_demo_production;')
  })

  test('is tuned for switches: keepalive, HTTP/1.1, bounded retries on the next instance', () => {
    const { text } = renderSite(site)
    expect(text).toContain('  keepalive 32;')
    expect(text).toContain('proxy_http_version 1.1;')
    expect(text).toContain('proxy_set_header Connection "";')
    expect(text).toContain('proxy_next_upstream error timeout http_502 http_503;')
    expect(text).toContain('proxy_next_upstream_tries 3;')
    expect(text).toContain('proxy_next_upstream_timeout 10s;')
    expect(text).toContain('proxy_connect_timeout 1s;')
  })

  test('answers its version and instances on the config endpoint', () => {
    const rendered = renderSite(site)
    expect(rendered.text).toContain(`location = ${configPath} {`)
    expect(rendered.text).toContain(
      `return 200 '{"site":"demo/production","version":"${rendered.version}","instances":["a1","b2"]}\\n';`,
    )
    expect(rendered.text).not.toContain('@@')
  })

  test('is deterministic: instance order does not matter, content does', () => {
    const a = renderSite(site)
    const b = renderSite({ ...site, instances: [...site.instances].reverse() })
    expect(b).toEqual(a)
    const c = renderSite({
      ...site,
      instances: [...site.instances, { id: 'c3', host: 'prod-3', port: 32002 }],
    })
    expect(c.version).not.toBe(a.version)
    expect(renderSite({ ...site, listenPort: 18081 }).version).not.toBe(a.version)
  })

  test('one address listed twice becomes one server, the lowest id kept', () => {
    const rendered = renderSite({
      ...site,
      instances: [
        { id: 'z9', host: 'prod-1', port: 32000 },
        { id: 'a1', host: 'prod-1', port: 32000 },
      ],
    })
    expect(rendered.instanceIds).toEqual(['a1'])
    expect(rendered.text.match(/ server 127\.0\.0\.1:32000 /g)).toHaveLength(1)
  })

  test('uses the given address, IPv6 in brackets', () => {
    const rendered = renderSite({
      ...site,
      instances: [
        { id: 'a1', host: 'prod-1', port: 32000, address: '10.0.0.7' },
        { id: 'b2', host: 'prod-2', port: 32001, address: '::1' },
      ],
    })
    expect(rendered.text).toContain('  server 10.0.0.7:32000 ')
    expect(rendered.text).toContain('  server [::1]:32001 ')
  })

  test('with no instances the site answers 503 with a JSON error, and has no upstream', () => {
    const rendered = renderSite({ ...site, instances: [] })
    expect(rendered.instanceIds).toEqual([])
    expect(rendered.text).not.toContain('upstream')
    expect(rendered.text).not.toContain('proxy_pass')
    expect(rendered.text).toContain(
      `return 503 '{"error":{"code":"DEPENDENCY_UNAVAILABLE","message":"no live instance of demo/production"}}\\n';`,
    )
    expect(rendered.text).toContain('add_header Retry-After 5 always;')
    expect(rendered.text).toContain('default_type application/json;')
  })

  test('rejects names that are not slugs', () => {
    rejects({ project: 'Demo' }, 'project')
    rejects({ project: 'a_b' }, 'project')
    rejects({ project: 'demo;' }, 'project')
    rejects({ project: '-demo' }, 'project')
    rejects({ project: '' }, 'project')
    rejects({ environment: 'prod }' }, 'environment')
    rejects({ environment: 'x'.repeat(64) }, 'environment')
    rejects({ environment: 'pre\nrelease' }, 'environment')
  })

  test('rejects ports that are not integers in range', () => {
    rejects({ listenPort: 0 }, 'listenPort')
    rejects({ listenPort: 65536 }, 'listenPort')
    rejects({ listenPort: 80.5 }, 'listenPort')
    rejects({ listenPort: Number.NaN }, 'listenPort')
    rejects({ listenPort: '80' as unknown as number }, 'listenPort')
    rejects({ instances: [{ id: 'a', host: 'h', port: -1 }] }, 'instances[0].port')
  })

  test('rejects instance values that could inject directives', () => {
    rejects({ instances: [{ id: "a'; return 200 'x", host: 'h', port: 1 }] }, 'instances[0].id')
    rejects({ instances: [{ id: 'a$host', host: 'h', port: 1 }] }, 'instances[0].id')
    rejects({ instances: [{ id: 'a', host: 'h;', port: 1 }] }, 'instances[0].host')
    rejects({ instances: [{ id: 'a', host: 'h', port: 1, address: '127.0.0.1; x' }] }, 'address')
    rejects({ instances: [{ id: 'a', host: 'h', port: 1, address: 'example.com' }] }, 'address')
  })
})
