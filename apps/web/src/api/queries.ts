import {
  ApiToken,
  ApprovalState,
  AuditEvent,
  ConfigSnapshot,
  ConfigVersionSummary,
  Environment,
  EnvironmentInstances,
  Host,
  InfrastructureChoices,
  Member,
  NotificationHook,
  Pipeline,
  Project,
  ProjectGrants,
  page,
  Registry,
  Release,
  User,
  WebhookDelivery,
} from '@slipway/contracts'
import { api, withQuery } from './client.ts'
import { useResource } from './resource.ts'

/**
 * The dashboard's reads, each under a cache key. Keys start with what live events
 * invalidate (see live.ts): `pipelines:<projectId>`, `pipeline:<id>`, `envs:<projectId>`,
 * `env:<projectId>:<name>:...`, `projects`.
 */
const PipelinePage = page(Pipeline)
const AuditPage = page(AuditEvent)

export const useProjects = () =>
  useResource('projects', (signal) => api.get('/api/projects', Project.array(), { signal }))

export const useProject = (slug: string) =>
  useResource(`project:${slug}`, (signal) => api.get(`/api/projects/${slug}`, Project, { signal }))

export const useEnvironments = (projectId: string) =>
  useResource(`envs:${projectId}`, (signal) =>
    api.get(`/api/projects/${projectId}/environments`, Environment.array(), { signal }),
  )

export interface PipelineFilter {
  status?: string | undefined
  ref?: string | undefined
  actor?: string | undefined
  cursor?: string | undefined
  limit?: number
}

export const usePipelines = (projectId: string, filter: PipelineFilter) => {
  const path = withQuery(`/api/projects/${projectId}/pipelines`, { limit: 25, ...filter })
  return useResource(`pipelines:${projectId}:${path}`, (signal) => api.get(path, PipelinePage, { signal }))
}

export const usePipeline = (id: string) =>
  useResource(`pipeline:${id}`, (signal) => api.get(`/api/pipelines/${id}`, Pipeline, { signal }))

export const useApproval = (pipelineId: string, stageId: string | null) =>
  useResource(stageId ? `approval:${pipelineId}:${stageId}` : null, (signal) =>
    api.get(`/api/pipelines/${pipelineId}/stages/${stageId}/approval`, ApprovalState, { signal }),
  )

const envPath = (projectId: string, env: string) => `/api/projects/${projectId}/environments/${env}`

export const useReleases = (projectId: string, env: string) =>
  useResource(`env:${projectId}:${env}:releases`, (signal) =>
    api.get(`${envPath(projectId, env)}/releases`, Release.array(), { signal }),
  )

export const useInstances = (projectId: string, env: string | null) =>
  useResource(env ? `env:${projectId}:${env}:instances` : null, (signal) =>
    api.get(`${envPath(projectId, env!)}/instances`, EnvironmentInstances, { signal, timeoutMs: 30_000 }),
  )

export const useConfig = (projectId: string, env: string, enabled = true) =>
  useResource(enabled && env ? `config:${projectId}:${env}` : null, (signal) =>
    api.get(`${envPath(projectId, env)}/config`, ConfigSnapshot, { signal }),
  )

export const useConfigVersions = (projectId: string, env: string, enabled = true) =>
  useResource(enabled && env ? `config:${projectId}:${env}:versions` : null, (signal) =>
    api.get(`${envPath(projectId, env)}/config/versions`, ConfigVersionSummary.array(), { signal }),
  )

export const useMembers = (projectId: string) =>
  useResource(`members:${projectId}`, (signal) =>
    api.get(`/api/projects/${projectId}/members`, Member.array(), { signal }),
  )

export const useHooks = (projectId: string, enabled = true) =>
  useResource(enabled ? `hooks:${projectId}` : null, (signal) =>
    api.get(`/api/projects/${projectId}/notification-hooks`, NotificationHook.array(), { signal }),
  )

export const useWebhookDeliveries = (projectId: string, enabled = true) =>
  useResource(enabled ? `deliveries:${projectId}` : null, (signal) =>
    api.get(`/api/projects/${projectId}/webhook-deliveries?limit=20`, WebhookDelivery.array(), { signal }),
  )

export const useHosts = (enabled = true) =>
  useResource(enabled ? 'hosts' : null, (signal) => api.get('/api/hosts', Host.array(), { signal }))

/** Hosts and registries a maintainer may pick from (names and ids, no endpoints or secrets). */
export const useInfrastructureChoices = (projectId: string, enabled = true) =>
  useResource(enabled ? `choices:${projectId}` : null, (signal) =>
    api.get(`/api/projects/${projectId}/infrastructure-choices`, InfrastructureChoices, { signal }),
  )

/** What an instance administrator granted the project: hosts, registries with a path, limits. */
export const useGrants = (projectId: string) =>
  useResource(`grants:${projectId}`, (signal) =>
    api.get(`/api/projects/${projectId}/grants`, ProjectGrants, { signal }),
  )

export const useRegistries = (enabled = true) =>
  useResource(enabled ? 'registries' : null, (signal) =>
    api.get('/api/registries', Registry.array(), { signal }),
  )

export const useUsers = (enabled = true) =>
  useResource(enabled ? 'users' : null, (signal) => api.get('/api/users', User.array(), { signal }))

export const useTokens = () =>
  useResource('tokens', (signal) => api.get('/api/tokens', ApiToken.array(), { signal }))

export const useAudit = (query: Record<string, string | undefined>) => {
  const path = withQuery('/api/audit', { limit: 50, ...query })
  return useResource(`audit:${path}`, (signal) => api.get(path, AuditPage, { signal }))
}
