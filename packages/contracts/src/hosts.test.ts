import { describe, expect, it } from 'vitest'
import {
  addressWithPort,
  CreateHostBody,
  DockerEndpoint,
  endpointAddress,
  HostAddress,
  hostAddressOf,
  UpdateHostBody,
} from './hosts.ts'

describe('host addresses', () => {
  it('takes the endpoint’s host when it is an IP literal, never a DNS name or a socket', () => {
    expect(endpointAddress('tcp://10.0.0.5:2376')).toBe('10.0.0.5')
    expect(endpointAddress('ssh://deploy@10.0.0.6')).toBe('10.0.0.6')
    expect(endpointAddress('ssh://deploy@10.0.0.6:2222')).toBe('10.0.0.6')
    expect(endpointAddress('tcp://[FD00:0::5]:2376')).toBe('fd00::5')
    expect(endpointAddress('unix:///var/run/docker.sock')).toBeUndefined()
    expect(endpointAddress('tcp://docker.example.com:2376')).toBeUndefined()
    expect(endpointAddress('tcp://0.0.0.0:2376')).toBeUndefined()
    expect(endpointAddress('tcp://300.1.1.1:2376')).toBeUndefined()
  })

  it('accepts IPv4 and IPv6 literals of one host only', () => {
    for (const ok of ['10.0.0.5', '127.0.0.1', 'fd00::5', '::1'])
      expect(HostAddress.safeParse(ok).success).toBe(true)
    for (const bad of ['0.0.0.0', '::', 'example.com', '10.0.0', '[fd00::5]', '10.0.0.5:80', ''])
      expect(HostAddress.safeParse(bad).success, bad).toBe(false)
  })

  it('accepts IPv6 endpoints in brackets', () => {
    expect(DockerEndpoint.safeParse('tcp://[fd00::5]:2376').success).toBe(true)
    expect(DockerEndpoint.safeParse('ssh://deploy@[fd00::5]').success).toBe(true)
  })

  it('defaults the address from a tcp:// endpoint and requires it for unix:// and DNS names', () => {
    const tcp = CreateHostBody.parse({ name: 'prod-9', endpoint: 'tcp://10.0.0.5:2376' })
    expect(hostAddressOf(tcp)).toBe('10.0.0.5')
    const given = CreateHostBody.parse({
      name: 'prod-9',
      endpoint: 'tcp://10.0.0.5:2376',
      address: '10.1.0.5',
    })
    expect(hostAddressOf(given)).toBe('10.1.0.5')
    for (const endpoint of ['unix:///var/run/docker.sock', 'tcp://docker.example.com:2376']) {
      const result = CreateHostBody.safeParse({ name: 'prod-9', endpoint })
      expect(result.success).toBe(false)
      expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['address'])
      expect(CreateHostBody.safeParse({ name: 'prod-9', endpoint, address: '10.0.0.7' }).success).toBe(true)
    }
    expect(UpdateHostBody.safeParse({ address: 'nope' }).success).toBe(false)
  })

  it('writes address:port with IPv6 in brackets', () => {
    expect(addressWithPort('10.0.0.5', 8080)).toBe('10.0.0.5:8080')
    expect(addressWithPort('fd00::5', 8080)).toBe('[fd00::5]:8080')
  })
})
