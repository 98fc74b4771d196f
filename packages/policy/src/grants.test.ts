import { describe, expect, it } from 'vitest'
import {
  checkChoices,
  defaultPathPrefix,
  defaultProjectLimits,
  effectiveMemoryMb,
  type GrantRule,
  grantRules,
  type ProjectChoices,
  type ProjectGrants,
  repositoryWithin,
  widenGrants,
} from './grants.ts'

const grants: ProjectGrants = {
  hostIds: ['h1', 'h2'],
  registries: [{ registryId: 'r1', pathPrefix: 'team/shop' }],
  limits: { maxReplicas: 4, maxMemoryMb: 512, allowHostNetwork: false },
}

const bridge = { network: 'bridge' as const, resources: {} }

/** One case per rule, each just over its line, and one just within it. */
const cases: Array<{ name: string; choices: ProjectChoices; rules: GrantRule[] }> = [
  { name: 'nothing asked', choices: {}, rules: [] },
  { name: 'granted hosts', choices: { hostIds: ['h1', 'h2', 'h1'] }, rules: [] },
  { name: 'no hosts', choices: { hostIds: [] }, rules: [] },
  { name: 'a host of another project', choices: { hostIds: ['h1', 'h3'] }, rules: ['host-not-granted'] },
  { name: 'the granted path', choices: { image: { registryId: 'r1', repository: 'team/shop' } }, rules: [] },
  {
    name: 'below the granted path',
    choices: { image: { registryId: 'r1', repository: 'team/shop/api' } },
    rules: [],
  },
  {
    name: 'a sibling path sharing the prefix',
    choices: { image: { registryId: 'r1', repository: 'team/shop-b' } },
    rules: ['repository-outside-grant'],
  },
  {
    name: 'another project’s path',
    choices: { image: { registryId: 'r1', repository: 'team/bank' } },
    rules: ['repository-outside-grant'],
  },
  {
    name: 'a registry not granted',
    choices: { image: { registryId: 'r2', repository: 'team/shop' } },
    rules: ['registry-not-granted'],
  },
  { name: 'no registry', choices: { image: { registryId: null, repository: 'anything' } }, rules: [] },
  { name: 'replicas at the limit', choices: { replicas: 4 }, rules: [] },
  { name: 'replicas over the limit', choices: { replicas: 5 }, rules: ['replicas-over-limit'] },
  { name: 'zero replicas', choices: { replicas: 0 }, rules: [] },
  {
    name: 'memory at the limit',
    choices: { appSpec: { ...bridge, resources: { memoryMb: 512 } } },
    rules: [],
  },
  {
    name: 'memory over the limit',
    choices: { appSpec: { ...bridge, resources: { memoryMb: 513 } } },
    rules: ['memory-over-limit'],
  },
  { name: 'no memory limit given (the project’s applies)', choices: { appSpec: bridge }, rules: [] },
  {
    name: 'the host network without a grant',
    choices: { appSpec: { network: 'host' } },
    rules: ['host-network-not-granted'],
  },
  {
    name: 'a build group with a granted host',
    choices: { buildGroup: { name: 'fast', hostIds: ['h5', 'h2'] } },
    rules: [],
  },
  {
    name: 'a build group of another project’s hosts',
    choices: { buildGroup: { name: 'theirs', hostIds: ['h5', 'h6'] } },
    rules: ['build-group-not-granted'],
  },
  {
    name: 'everything wrong at once',
    choices: {
      hostIds: ['h9'],
      image: { registryId: 'r9', repository: 'x' },
      appSpec: { network: 'host', resources: { memoryMb: 100_000 } },
      replicas: 1000,
      buildGroup: { name: 'theirs', hostIds: ['h7'] },
    },
    rules: [
      'host-not-granted',
      'registry-not-granted',
      'memory-over-limit',
      'host-network-not-granted',
      'build-group-not-granted',
      'replicas-over-limit',
    ],
  },
]

describe('project grants and limits', () => {
  for (const { name, choices, rules } of cases) {
    it(`${name}: ${rules.length ? rules.join(', ') : 'allowed'}`, () => {
      const violations = checkChoices(grants, choices)
      expect(violations.map((v) => v.rule)).toEqual(rules)
      for (const violation of violations) {
        expect(violation.path).toMatch(/^body\./)
        expect(violation.message.length).toBeGreaterThan(10)
      }
    })
  }

  it('has a case for every rule', () => {
    const seen = new Set(cases.flatMap((c) => c.rules))
    expect([...grantRules].filter((rule) => !seen.has(rule))).toEqual([])
  })

  it('names the fields at fault', () => {
    const paths = checkChoices(grants, cases.at(-1)?.choices ?? {}).map((v) => v.path)
    expect(paths).toEqual([
      'body.hostIds',
      'body.registryId',
      'body.appSpec.resources.memoryMb',
      'body.appSpec.network',
      'body.buildAgentGroup',
      'body.replicas',
    ])
    expect(checkChoices(grants, { image: { registryId: 'r1', repository: 'b' } })[0]?.path).toBe(
      'body.imageRepository',
    )
  })

  it('the host network is allowed once granted', () => {
    const granted = { ...grants, limits: { ...grants.limits, allowHostNetwork: true } }
    expect(checkChoices(granted, { appSpec: { network: 'host' } })).toEqual([])
  })

  it('a project with no grants may use nothing', () => {
    const none: ProjectGrants = { hostIds: [], registries: [], limits: defaultProjectLimits }
    expect(checkChoices(none, { hostIds: ['h1'] }).map((v) => v.rule)).toEqual(['host-not-granted'])
    expect(
      checkChoices(none, { image: { registryId: 'r1', repository: 'team/shop' } }).map((v) => v.rule),
    ).toEqual(['registry-not-granted'])
    expect(
      checkChoices(none, { buildGroup: { name: 'default', hostIds: ['b1'] } }).map((v) => v.rule),
    ).toEqual(['build-group-not-granted'])
  })

  it('a build group with no host in it has nothing granted', () => {
    const empty = { buildGroup: { name: 'nobody', hostIds: [] } }
    expect(checkChoices(grants, empty).map((v) => v.rule)).toEqual(['build-group-not-granted'])
    expect(widenGrants(grants, empty).hostIds).toEqual(grants.hostIds)
  })
})

describe('an administrator’s choice is a grant', () => {
  for (const { name, choices } of cases) {
    it(`${name}: within the widened grants`, () => {
      const widened = widenGrants(grants, choices)
      expect(checkChoices(widened, choices)).toEqual([])
      // Widening never takes anything away.
      for (const id of grants.hostIds) expect(widened.hostIds).toContain(id)
      expect(widened.limits.maxReplicas).toBeGreaterThanOrEqual(grants.limits.maxReplicas)
      expect(widened.limits.maxMemoryMb).toBeGreaterThanOrEqual(grants.limits.maxMemoryMb)
    })
  }

  it('changes nothing when everything is granted already', () => {
    expect(widenGrants(grants, { hostIds: ['h1'], replicas: 2 })).toBe(grants)
  })

  it('grants every host of the build group chosen', () => {
    expect(widenGrants(grants, { buildGroup: { name: 'fast', hostIds: ['b1', 'b2'] } }).hostIds).toEqual([
      'h1',
      'h2',
      'b1',
      'b2',
    ])
  })

  it('grants a registry at the repository chosen', () => {
    expect(widenGrants(grants, { image: { registryId: 'r2', repository: 'team/new' } }).registries).toEqual([
      { registryId: 'r1', pathPrefix: 'team/shop' },
      { registryId: 'r2', pathPrefix: 'team/new' },
    ])
  })
})

describe('paths and memory', () => {
  it('a repository is within its prefix or below it, never beside it', () => {
    expect(repositoryWithin('team', 'team')).toBe(true)
    expect(repositoryWithin('team', 'team/a/b')).toBe(true)
    expect(repositoryWithin('team', 'teams')).toBe(false)
    expect(repositoryWithin('team/a', 'team')).toBe(false)
  })

  it('the default path is the project’s slug', () => {
    expect(defaultPathPrefix('shop')).toBe('shop')
  })

  it('an instance without its own memory limit runs with the project’s', () => {
    expect(effectiveMemoryMb({ maxMemoryMb: 512 }, bridge)).toBe(512)
    expect(effectiveMemoryMb({ maxMemoryMb: 512 }, { ...bridge, resources: { memoryMb: 64 } })).toBe(64)
  })
})
