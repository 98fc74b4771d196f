import { describe, expect, test } from 'vitest'
import { parseTrafficLine, siteOfBackend } from './parse.ts'

describe('parseTrafficLine', () => {
  test('reads a request line of the ring', () => {
    expect(parseTrafficLine('1796398030.227 be_demo_production r3f2a-9k2d-4 200 3 2 ---- 0')).toEqual({
      atMs: 1796398030227,
      backend: 'be_demo_production',
      server: 'r3f2a-9k2d-4',
      status: 200,
      totalMs: 3,
      responseMs: 2,
      termination: '----',
      retries: 0,
    })
  })

  test('reads a request no server took, and a status HAProxy never sent', () => {
    expect(parseTrafficLine('1796398030.318 be <NOSRV> 503 0 -1 LR-- 0')).toMatchObject({
      server: '<NOSRV>',
      status: 503,
      responseMs: -1,
      termination: 'LR--',
    })
    expect(parseTrafficLine('1796398030.318 be_a_b s1 -1 12 -1 CH-- 0')).toMatchObject({ status: -1 })
  })

  test("drops logasap's and redispatch's + signs", () => {
    expect(parseTrafficLine('1796398030.001 be_a_b s1 200 +5 1 ---- +1')).toMatchObject({
      totalMs: 5,
      retries: 1,
    })
  })

  test('ignores what is not a request line', () => {
    for (const line of [
      '',
      'Proxy fe_x stopped (cumulated conns: FE: 1, BE: 0).',
      'Server be_demo_production/r3f2a-9k2d-4 is going DOWN for maintenance. 0 active and 0 backup servers left.',
      '1796398030.227 be_demo_production r3f2a-9k2d-4 200 3 2',
      '1796398030.227 be_demo_production r3f2a-9k2d-4 abc 3 2 ---- 0',
      '1796398030 be_demo_production r3f2a-9k2d-4 200 3 2 ---- 0',
      '1796398030.227 be_demo_production r3f2a-9k2d-4 200 3 2 ---- 0 extra',
    ])
      expect(parseTrafficLine(line)).toBeUndefined()
  })
})

describe('siteOfBackend', () => {
  test('a site backend names its project and environment', () => {
    expect(siteOfBackend('be_demo_production')).toEqual({
      project: 'demo',
      environment: 'production',
      key: 'demo_production',
    })
    expect(siteOfBackend('be_my-app_pre-release')).toMatchObject({
      project: 'my-app',
      environment: 'pre-release',
    })
  })

  test('other backends are not sites', () => {
    for (const name of [
      'be',
      'gateway-health',
      'be_demo',
      'be_demo_prod_x',
      'be_Demo_prod',
      'be_-a_b',
      'fe_demo_prod',
    ])
      expect(siteOfBackend(name)).toBeUndefined()
  })
})
