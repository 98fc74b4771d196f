import { freePort } from '@slipway/testing/services'
import { Client, type Demo, tokenFor } from '../../client.ts'

export interface LoadProject {
  id: string
  slug: string
  /** Whether its pipelines deploy (a pre-release environment on pre-1), or only build and push. */
  deploys: boolean
}

/**
 * Another project on the demo's repository, registry and build host, made by the
 * administrator: pipelines of main (tags v*), a pre-release environment on pre-1 when
 * `deploys`, none otherwise (a pipeline is then build + push).
 */
export async function addProject(
  demo: Demo,
  slug: string,
  deploys: boolean,
  fields: { supersedeQueued?: boolean } = {},
): Promise<LoadProject> {
  const { admin } = demo
  const registries = (await admin.get('/api/registries')).body as { id: string; name: string }[]
  const created = await admin.post('/api/projects', {
    slug,
    name: slug,
    gitUrl: `file://${demo.repo}`,
    imageRepository: `e2e/${slug}`,
    registryId: registries.find((r) => r.name === 'local')?.id,
    tagRules: ['v*'],
    webhookSecret: 'e2e-webhook-secret',
    appSpec: {
      containerPort: 8080,
      healthCheck: { type: 'http', path: '/healthz', intervalSeconds: 0.3, timeoutSeconds: 2, retries: 2 },
      stopGraceSeconds: 5,
    },
    ...fields,
  })
  if (created.status !== 201) throw new Error(`project ${slug}: ${JSON.stringify(created.body)}`)
  if (deploys) {
    const hosts = (await admin.get('/api/hosts')).body as { id: string; name: string }[]
    const env = await admin.post(`/api/projects/${slug}/environments`, {
      name: 'pre-release',
      position: 0,
      hostIds: hosts.filter((h) => h.name === 'pre-1').map((h) => h.id),
      gatewayPort: await freePort(),
      replicas: 1,
      strategy: { drainSeconds: 0.2, healthTimeoutSeconds: 30 },
    })
    if (env.status !== 201) throw new Error(`environment of ${slug}: ${JSON.stringify(env.body)}`)
  }
  return { id: created.body.id, slug, deploys }
}

/**
 * `count` users, each a viewer of `projectSlug`, each with an API token of its own (the live
 * streams are capped per user, so many readers need many users).
 */
export async function addReaders(demo: Demo, projectSlug: string, count: number): Promise<Client[]> {
  const password = 'load reader password 1234'
  const readers: Client[] = []
  for (let i = 0; i < count; i++) {
    const email = `reader-${i}@load.test`
    const user = await demo.admin.post('/api/users', { email, name: `reader ${i}`, password })
    if (user.status !== 201) throw new Error(`user ${email}: ${JSON.stringify(user.body)}`)
    await demo.admin.put(`/api/projects/${projectSlug}/members/${user.body.id}`, { role: 'viewer' })
    readers.push(new Client(demo.admin.url, await tokenFor(demo.admin.url, email, password)))
  }
  return readers
}
