/**
 * Seeds the local fleet into Slipway: the registry, the Docker hosts, and the demo project
 * with a pre-release and a production environment. Idempotent: what exists is left as is.
 * Run by `./slipway start` with the fleet's environment (.slipway/fleet.env).
 */
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

const registry =
  (await db.registry.findUnique({ where: { name: 'local' } })) ??
  (await db.$transaction(async (tx) => {
    const created = await tx.registry.create({
      data: { name: 'local', url: env.REGISTRY_URL, username: env.REGISTRY_USERNAME },
    })
    return tx.registry.update({
      where: { id: created.id },
      data: {
        passwordEnc: secrets.encrypt(env.REGISTRY_PASSWORD, secretContext.registryPassword(created.id)),
      },
    })
  }))

const hostIds = new Map<string, string>()
for (const entry of env.FLEET_HOSTS.split(',')) {
  const [name, endpoint] = entry.split('=') as [string, string]
  const host = await db.host.upsert({
    where: { name },
    create: {
      name,
      endpoint,
      agentGroup: name.startsWith('build-') ? 'default' : null,
      labels: { fleet: 'local' },
    },
    update: {},
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
