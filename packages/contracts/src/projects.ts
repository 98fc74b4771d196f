import { z } from 'zod'
import { GitRef, Id, RefPattern, SecretInput, Slug, Timestamp, withoutUserinfo } from './common.ts'

/** How Slipway decides that a new container is ready for traffic. */
export const HealthCheck = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('http'),
    /** Path requested on the container port; any 2xx/3xx answer counts as healthy. */
    path: z.string().startsWith('/').max(512).default('/healthz'),
    intervalSeconds: z.number().min(0.1).max(300).default(1),
    timeoutSeconds: z.number().min(0.1).max(120).default(2),
    /** Consecutive successes needed (and failures tolerated after the start period). */
    retries: z.number().int().min(1).max(100).default(3),
    /** Failures during this window do not count. */
    startPeriodSeconds: z.number().min(0).max(3600).default(0),
  }),
  z.object({
    type: z.literal('tcp'),
    intervalSeconds: z.number().min(0.1).max(300).default(1),
    timeoutSeconds: z.number().min(0.1).max(120).default(2),
    retries: z.number().int().min(1).max(100).default(3),
    startPeriodSeconds: z.number().min(0).max(3600).default(0),
  }),
])
export type HealthCheck = z.infer<typeof HealthCheck>

/** What a release's containers look like, whatever the environment. */
export const AppSpec = z.object({
  /** The port the application listens on inside the container. */
  containerPort: z.number().int().min(1).max(65535),
  healthCheck: HealthCheck,
  /** Seconds between SIGTERM and SIGKILL when a container is stopped. */
  stopGraceSeconds: z.number().int().min(0).max(3600).default(10),
  /**
   * `bridge`: each container has its own network and its port is published on its host's
   * address, on a port Docker chooses. `host`: containers share the host's network and must
   * listen on the port given in PORT, leased for them on that host (cheaper to start and stop;
   * no network isolation between them).
   */
  network: z.enum(['bridge', 'host']).default('bridge'),
  resources: z
    .object({
      memoryMb: z
        .number()
        .int()
        .min(4)
        .max(1024 * 1024)
        .optional(),
      cpus: z.number().min(0.01).max(256).optional(),
    })
    .default({}),
})
export type AppSpec = z.infer<typeof AppSpec>

/** A repository URL git can fetch: https, http, ssh, scp-like (git@host:path) or file. */
export const GitUrl = z
  .string()
  .min(1)
  .max(1000)
  .refine(
    (url) =>
      /^(https?|ssh|git|file):\/\/[^\s]+$/.test(url) || /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/.test(url),
    'a git URL (https://, ssh://, git@host:path or file://)',
  )
  .refine((url) => !url.startsWith('-'), 'must not start with -')
  // A user or host starting with - would be an option to ssh (ssh://-oProxyCommand=...).
  .refine(
    (url) => !/^[a-z]+:\/\/(?:[^/@]*@)?-/.test(url) && !/^[^:/]*@-/.test(url),
    'the user and host must not start with -',
  )

/**
 * A repository on Slipway's own machine (file://): it reads the worker's file system, so only
 * an instance administrator may point a project at one.
 */
export const isLocalGitUrl = (url: string): boolean => /^file:/i.test(url.trim())

/** A path inside the repository: relative, no `..`. */
export const RepoPath = z
  .string()
  .min(1)
  .max(500)
  .refine((value) => !value.startsWith('/') && !value.split('/').includes('..'), 'a relative path without ..')

export const ImageRepository = z
  .string()
  .min(1)
  .max(200)
  .regex(
    /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/,
    'a registry repository path like team/app',
  )

export const EnvKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'a variable name like DATABASE_HOST')

export const BuildArgs = z
  .record(EnvKey, z.string().max(4096))
  .refine((args) => Object.keys(args).length <= 100, 'at most 100 build args')

const projectFields = {
  name: z.string().min(1).max(100),
  gitUrl: GitUrl,
  defaultBranch: GitRef.default('main'),
  branchRules: z.array(RefPattern).max(50).default(['main']),
  tagRules: z.array(RefPattern).max(50).default([]),
  dockerfilePath: RepoPath.default('Dockerfile'),
  buildContext: z.union([z.literal('.'), RepoPath]).default('.'),
  buildArgs: BuildArgs.default({}),
  appSpec: AppSpec,
  registryId: Id.nullable().default(null),
  imageRepository: ImageRepository,
  buildAgentGroup: Slug.default('default'),
  supersedeQueued: z.boolean().default(true),
  keepReleases: z.number().int().min(1).max(100).default(5),
}

const GitlabSettings = z
  .object({
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .max(500)
      .refine(withoutUserinfo, 'no user or password in the URL: the access token goes in gitlab.token'),
    /** Numeric id or path (group/project). */
    project: z.string().min(1).max(300),
    /** Access token with api scope: write-only. */
    token: SecretInput.optional(),
  })
  .strict()

export const CreateProjectBody = z
  .object({
    slug: Slug,
    ...projectFields,
    /** X-Gitlab-Token expected on webhook deliveries: write-only. */
    webhookSecret: SecretInput.optional(),
    /** Build args whose values are secret: write-only, masked in build logs. */
    buildSecrets: z.record(EnvKey, SecretInput).default({}),
    gitlab: GitlabSettings.nullable().optional(),
  })
  .strict()
export type CreateProjectBody = z.infer<typeof CreateProjectBody>

export const UpdateProjectBody = z
  .object({
    name: projectFields.name,
    gitUrl: projectFields.gitUrl,
    defaultBranch: GitRef,
    branchRules: z.array(RefPattern).max(50),
    tagRules: z.array(RefPattern).max(50),
    dockerfilePath: RepoPath,
    buildContext: z.union([z.literal('.'), RepoPath]),
    buildArgs: BuildArgs,
    appSpec: AppSpec,
    registryId: Id.nullable(),
    imageRepository: ImageRepository,
    buildAgentGroup: Slug,
    supersedeQueued: z.boolean(),
    keepReleases: z.number().int().min(1).max(100),
    /** null removes the secret (disables the webhook). */
    webhookSecret: SecretInput.nullable(),
    /** Sets the named build secrets; null removes one. Others are left as they are. */
    buildSecrets: z.record(EnvKey, SecretInput.nullable()),
    gitlab: GitlabSettings.nullable(),
  })
  .partial()
  .strict()
export type UpdateProjectBody = z.infer<typeof UpdateProjectBody>

export const Project = z.object({
  id: Id,
  slug: z.string(),
  name: z.string(),
  gitUrl: z.string(),
  defaultBranch: z.string(),
  branchRules: z.array(z.string()),
  tagRules: z.array(z.string()),
  dockerfilePath: z.string(),
  buildContext: z.string(),
  buildArgs: z.record(z.string(), z.string()),
  /** Names of the build secrets (values are never returned). */
  buildSecrets: z.array(z.string()),
  appSpec: AppSpec,
  registryId: Id.nullable(),
  imageRepository: z.string(),
  buildAgentGroup: z.string(),
  supersedeQueued: z.boolean(),
  keepReleases: z.number(),
  webhook: z.object({ path: z.string(), secretSet: z.boolean() }),
  gitlab: z.object({ baseUrl: z.string(), project: z.string(), tokenSet: z.boolean() }).nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
export type Project = z.infer<typeof Project>

/**
 * The answer to an edit: the project, and the stored credentials the edit cleared because
 * it moved where they are sent without sending them again (`gitlab.token`).
 */
export const UpdatedProject = Project.extend({ cleared: z.array(z.string()) })
export type UpdatedProject = z.infer<typeof UpdatedProject>
