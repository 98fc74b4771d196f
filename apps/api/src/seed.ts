/**
 * Seeds the local fleet into Slipway: the registry, the Docker hosts, and the demo project
 * with a pre-release and a production environment. Idempotent: the fleet's registry and
 * hosts (labelled fleet=local) follow the fleet's addresses and TLS material; the rest is left
 * as it is once it exists.
 * Run by `./slipway start` with the fleet's environment (.slipway/fleet.env).
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { AppSpec } from '@slipway/contracts'
import { createSecretBox, EnvError, keyringSpecSchema, parseEnv, parseKeyring } from '@slipway/core'
import { createDb, secretContext } from '@slipway/db'
import { z } from 'zod'

const seedEnv = z.object({
  DATABASE_URL: z.url(),
  SLIPWAY_SECRET_KEYS: keyringSpecSchema,
  REGISTRY_URL: z.string().min(1),
  REGISTRY_USERNAME: z.string().min(1),
  REGISTRY_PASSWORD: z.string().min(1),
  FLEET_HOSTS: z.string().min(1),
  /** The fleet CA and Slipway's client certificate (ca.pem, cert.pem, key.pem). */
  FLEET_TLS_DIR: z.string().min(1),
  DEMO_REPO_URL: z.string().min(1),
  GATEWAY_PORT: z.coerce.number().int(),
})

let env: z.infer<typeof seedEnv>
try {
  env = parseEnv(seedEnv, process.env)
} catch (error) {
  if (error instanceof EnvError) {
    console.error(`seed: ${error.message}`)
    process.exit(1)
  }
  throw error
}

const secrets = createSecretBox(parseKeyring(env.SLIPWAY_SECRET_KEYS))
const db = createDb({ url: env.DATABASE_URL, poolSize: 2 })

// The fleet's own registry and hosts follow the fleet (its addresses and credentials may have
// changed since the last seed); everything else is left as it is.
const registry = await db.$transaction(async (tx) => {
  const row = await tx.registry.upsert({
    where: { name: 'local' },
    create: { name: 'local', url: env.REGISTRY_URL, username: env.REGISTRY_USERNAME },
    update: { url: env.REGISTRY_URL, username: env.REGISTRY_USERNAME },
  })
  return tx.registry.update({
    where: { id: row.id },
    data: { passwordEnc: secrets.encrypt(env.REGISTRY_PASSWORD, secretContext.registryPassword(row.id)) },
  })
})

const pem = (name: string) => readFileSync(path.join(env.FLEET_TLS_DIR, name), 'utf8')
const tls = { ca: pem('ca.pem'), cert: pem('cert.pem'), key: pem('key.pem') }

const hostIds = new Map<string, string>()
for (const entry of env.FLEET_HOSTS.split(',')) {
  const [name, endpoint] = entry.split('=') as [string, string]
  const fleetColumns = {
    endpoint,
    address: new URL(endpoint).hostname,
    tlsCaPem: tls.ca,
    tlsCertPem: tls.cert,
  }
  const existing = await db.host.findUnique({ where: { name } })
  if (existing && (existing.labels as Record<string, string>).fleet !== 'local') {
    hostIds.set(name, existing.id)
    continue
  }
  const host = await db.host.upsert({
    where: { name },
    create: {
      name,
      ...fleetColumns,
      agentGroup: name.startsWith('build-') ? 'default' : null,
      labels: { fleet: 'local' },
    },
    update: fleetColumns,
  })
  await db.host.update({
    where: { id: host.id },
    data: { tlsKeyEnc: secrets.encrypt(tls.key, secretContext.hostTlsKey(host.id)) },
  })
  hostIds.set(name, host.id)
}

const appSpec = AppSpec.parse({
  containerPort: 8080,
  healthCheck: { type: 'http', path: '/healthz', intervalSeconds: 0.5, timeoutSeconds: 2, retries: 2 },
  stopGraceSeconds: 10,
  resources: { memoryMb: 64 },
})

const project = await db.project.upsert({
  where: { slug: 'demo' },
  create: {
    slug: 'demo',
    name: 'Demo',
    gitUrl: env.DEMO_REPO_URL,
    defaultBranch: 'main',
    branchRules: ['main'],
    tagRules: ['v*'],
    appSpec,
    registryId: registry.id,
    imageRepository: 'slipway/demo',
  },
  update: {},
})

// The demo project is granted the fleet's hosts (build and deploy) and its registry at its own
// repository path (project isolation: packages/policy grants.ts).
await db.projectHostGrant.createMany({
  data: [...hostIds.values()].map((hostId) => ({ projectId: project.id, hostId })),
  skipDuplicates: true,
})
await db.projectRegistryGrant.upsert({
  where: { projectId_registryId: { projectId: project.id, registryId: registry.id } },
  create: { projectId: project.id, registryId: registry.id, pathPrefix: project.imageRepository },
  update: {},
})

const environments = [
  {
    name: 'pre-release',
    position: 0,
    replicas: 2,
    hosts: ['pre-1'],
    port: env.GATEWAY_PORT + 1,
    approvals: 0,
  },
  {
    name: 'production',
    position: 1,
    replicas: 3,
    hosts: ['prod-1', 'prod-2', 'prod-3'],
    port: env.GATEWAY_PORT + 2,
    approvals: 1,
  },
]
for (const spec of environments) {
  const existing = await db.environment.findUnique({
    where: { projectId_name: { projectId: project.id, name: spec.name } },
  })
  if (existing) continue
  const ids = spec.hosts.map((name) => hostIds.get(name)).filter((id): id is string => Boolean(id))
  await db.environment.create({
    data: {
      projectId: project.id,
      name: spec.name,
      position: spec.position,
      replicas: spec.replicas,
      protected: spec.name === 'production',
      requiredApprovals: spec.approvals,
      gatewayPort: spec.port,
      hosts: { create: ids.map((hostId) => ({ hostId })) },
    },
  })
}

console.warn(
  `seed: project "demo" ready (${env.DEMO_REPO_URL}), ${hostIds.size} hosts, registry ${env.REGISTRY_URL}`,
)
await db.$disconnect()
