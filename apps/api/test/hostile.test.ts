import { recordRow } from '@slipway/testing/services'
import { describe, expect } from 'vitest'
import { describeResponse, send, watchChanges } from './support/send.ts'
import { apiTest as test } from './support/test-app.ts'
import { buildWorld } from './support/world.ts'

const testPath = 'apps/api/test/hostile.test.ts'

/** The field a 400 names, or undefined. */
const fieldOf = (response: { json(): unknown }) =>
  (response.json() as { error?: { details?: { fields?: { path: string }[] } } }).error?.details?.fields?.[0]
    ?.path

/** git URLs that would run a command, pass an option to git or ssh, or read Slipway's machine. */
const hostileGitUrls = [
  'ext::sh -c touch% /tmp/slipway-pwned',
  'ext::ssh -oProxyCommand=touch%20/tmp/slipway-pwned x',
  '--upload-pack=touch /tmp/slipway-pwned',
  '-c core.sshCommand=touch /tmp/slipway-pwned',
  '-oProxyCommand=touch@host:repo',
  'ssh://-oProxyCommand=touch%20/tmp/slipway-pwned/repo',
  'ssh://git@-oProxyCommand=touch/repo',
  'git@-oProxyCommand=touch:repo',
  'git@-host:repo',
  'fd::17',
  'FILE:///etc',
  'https://gitlab.example.com/team/shop.git\n--upload-pack=touch',
]

describe('hostile git URLs', () => {
  test('commands, options and a file:// by a non-administrator are refused; credentials are never shown', async ({
    app,
    db,
    deps,
  }) => {
    const world = await buildWorld(db)
    const admin = world.users['instance-admin']!
    const maintainer = world.users.maintainer!
    const viewer = world.users.viewer!
    const project = `/api/projects/${world.project.slug}`
    const problems: string[] = []
    const changes = await watchChanges(deps)
    const newProject = (gitUrl: string) => ({
      slug: 'hostile-git',
      name: 'Hostile',
      gitUrl,
      imageRepository: 'team/hostile',
      appSpec: { containerPort: 8080, healthCheck: { type: 'http', path: '/healthz' } },
    })
    let refused = 0
    for (const gitUrl of hostileGitUrls) {
      for (const [label, method, url, body, headers] of [
        ['an administrator creating a project', 'POST', '/api/projects', newProject(gitUrl), admin.headers],
        ['a maintainer changing the settings', 'PATCH', project, { gitUrl }, maintainer.headers],
      ] as const) {
        const response = await send(app, method, { url, body }, headers)
        refused++
        if (response.statusCode !== 400 || fieldOf(response) !== 'body.gitUrl')
          problems.push(
            `${JSON.stringify(gitUrl)} by ${label}: expected 400 naming body.gitUrl, got ${describeResponse(response)}`,
          )
      }
    }
    // A repository on Slipway's own machine: an instance administrator's choice only.
    const local = await send(
      app,
      'PATCH',
      { url: project, body: { gitUrl: 'file:///etc/slipway' } },
      maintainer.headers,
    )
    refused++
    if (local.statusCode !== 403 || fieldOf(local) !== 'body.gitUrl')
      problems.push(
        `file:// by a maintainer: expected 403 naming body.gitUrl, got ${describeResponse(local)}`,
      )
    problems.push(...(await changes()).map((change) => `a refused URL changed ${change}`))
    expect(problems).toEqual([])

    // Credentials in the URL are used for fetching, and shown to nobody.
    const token = 'glpat-hostile-url-secret'
    const withCredentials = `https://ci:${token}@gitlab.example.com/team/shop.git`
    const set = await send(
      app,
      'PATCH',
      { url: project, body: { gitUrl: withCredentials } },
      maintainer.headers,
    )
    expect(set.statusCode).toBe(200)
    // At rest the URL is kept without them, and they are encrypted beside it.
    const stored = await db.project.findUniqueOrThrow({ where: { id: world.project.id } })
    expect(stored.gitUrl).toBe('https://gitlab.example.com/team/shop.git')
    expect(stored.gitCredentialsEnc).toMatch(/^v1\./)
    expect(JSON.stringify(stored)).not.toContain(token)
    const answers = [set]
    for (const [url, headers] of [
      [project, viewer.headers],
      ['/api/projects', viewer.headers],
      [project, admin.headers],
      [`/api/audit?projectId=${world.project.id}`, admin.headers],
      ['/api/audit', admin.headers],
    ] as const) {
      const response = await send(app, 'GET', { url }, headers)
      expect(response.statusCode, url).toBe(200)
      answers.push(response)
    }
    const showing = answers.filter((response) => response.body.includes(token))
    expect(showing.map((response) => response.body.slice(0, 120))).toEqual([])
    expect(set.json().gitUrl).toBe('https://gitlab.example.com/team/shop.git')

    await recordRow({
      section: 'hostile',
      id: 'hostile-git-urls',
      done: `Set ${hostileGitUrls.length} hostile git URLs (ext:: transports, --upload-pack and -c options, ssh hosts and users starting with -, fd::, an upper-case FILE://, a newline followed by an option) both as an administrator creating a project and as a maintainer changing its settings; a file:// URL as a maintainer; then a URL carrying a user and token, read back by a viewer, a maintainer and an administrator, and through the audit log.`,
      expected:
        'Each hostile URL is a 400 naming body.gitUrl and a file:// URL by a non-administrator a 403 naming it, with no table changed; a URL with credentials is stored without them, which are encrypted apart (git is given them), and every answer, the audit log included, shows it without them.',
      observed: `${refused} requests refused as expected (${refused - 1} x 400, 1 x 403), nothing changed; the token appeared in none of ${answers.length} answers.`,
      test: testPath,
      ci: true,
    })
  })
})

/** Keys that would end a line, split a KEY=value pair, quote, or expand in a Dockerfile or an env file. */
/** The text ${HOME}, as a shell or an env file loader would expand it. */
const home = ['$', '{HOME}'].join('')
const hostileKeys = ['A\nB', 'A=B', 'A"B', "A'B", home, '$(id)', 'A B', '-A', '1A', 'A;B', 'A\rB', 'Ä']
/** Values that would do the same if Slipway wrote them into a file: here they are data, kept exactly. */
const hostileValues = [
  'line one\nline two',
  'a=b=c',
  'say "hi" and \'bye\'',
  `${home} $(id) \`id\``,
  '\r\nINJECTED=1',
  '#not a comment',
  '\\n stays a backslash and an n',
  ' padded ',
]

describe('hostile configuration', () => {
  test('keys that would break a Dockerfile or an env file are refused; values are data, kept exactly', async ({
    app,
    db,
    deps,
  }) => {
    const world = await buildWorld(db)
    const maintainer = world.users.maintainer!
    const project = `/api/projects/${world.project.slug}`
    const config = `${project}/environments/${world.environment.name}/config`
    const problems: string[] = []
    const changes = await watchChanges(deps)
    let refused = 0
    for (const key of hostileKeys) {
      for (const [method, url, body, field] of [
        ['PATCH', config, { variables: { [key]: 'x' } }, 'variables'],
        ['PATCH', config, { secrets: { [key]: 'x' } }, 'secrets'],
        ['PATCH', project, { buildArgs: { [key]: 'x' } }, 'buildArgs'],
        ['PATCH', project, { buildSecrets: { [key]: 'x' } }, 'buildSecrets'],
      ] as const) {
        const response = await send(app, method, { url, body }, maintainer.headers)
        refused++
        if (response.statusCode !== 400 || !fieldOf(response)?.startsWith(`body.${field}`))
          problems.push(
            `key ${JSON.stringify(key)} in ${field}: expected 400 naming body.${field}, got ${describeResponse(response)}`,
          )
      }
    }
    for (const [url, body] of [
      [config, { variables: { GOOD: 'a\u0000b' } }],
      [project, { buildArgs: { GOOD: 'a\u0000b' } }],
    ] as const) {
      const response = await send(app, 'PATCH', { url, body }, maintainer.headers)
      refused++
      if (response.statusCode !== 400)
        problems.push(`a NUL in a value: expected 400, got ${describeResponse(response)}`)
    }
    problems.push(...(await changes()).map((change) => `a refused key changed ${change}`))
    expect(problems).toEqual([])

    const variables = Object.fromEntries(hostileValues.map((value, i) => [`HOSTILE_${i}`, value]))
    const saved = await send(
      app,
      'PATCH',
      { url: config, body: { variables, secrets: { HOSTILE_SECRET: hostileValues.join('|') } } },
      maintainer.headers,
    )
    expect(saved.statusCode).toBe(200)
    const read = await send(app, 'GET', { url: config }, maintainer.headers)
    const kept = Object.fromEntries(
      (read.json() as { variables: { key: string; value: string }[] }).variables.map((v) => [v.key, v.value]),
    )
    expect(kept).toMatchObject(variables)
    expect(read.body).not.toContain('INJECTED=1|')
    const args = await send(
      app,
      'PATCH',
      { url: project, body: { buildArgs: variables } },
      maintainer.headers,
    )
    expect(args.statusCode).toBe(200)
    expect(args.json().buildArgs).toEqual(variables)

    await recordRow({
      section: 'hostile',
      id: 'hostile-config',
      done: `Sent ${hostileKeys.length} hostile names (newline, carriage return, "=", quotes, \${...}, $(...), space, a leading "-" or digit, ";", non-ASCII) as configuration variables, secrets, build arguments and build secrets, a NUL in values; then ${hostileValues.length} hostile values (newlines, "=", quotes, \${...}, $(...), backticks, CRLF followed by INJECTED=1, "#", padding) as variables, a secret and build arguments.`,
      expected:
        'Every hostile name is a 400 naming the field (names are [A-Za-z_][A-Za-z0-9_]*) and a NUL a 400, changing nothing; values are data: accepted and read back byte for byte.',
      observed: `${refused} requests refused with 400, nothing changed; ${hostileValues.length} hostile values stored and read back exactly as variables and as build arguments. Not exercised by this test, read in the code: Slipway writes no env file and no Dockerfile from configuration; variables reach a container as entries of the Docker API Env list, build arguments as single argv entries of docker build (execFile, no shell), and the gateway configuration is rendered only from checked slugs, host tokens, IP addresses and ports (packages/gateway/src/names.ts).`,
      test: testPath,
      ci: true,
    })
  })
})
