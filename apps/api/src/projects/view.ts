import { AppSpec, type Project as ProjectContract } from '@slipway/contracts'
import type { Project } from '@slipway/db'
import { withoutCredentials } from '@slipway/git'

/** The public view of a project: secrets appear only as "set or not". */
export function projectView(project: Project): ProjectContract {
  return {
    id: project.id,
    slug: project.slug,
    name: project.name,
    // Credentials in the URL are used by git, never shown (nor written to the audit log): they
    // are stored apart, encrypted; `withoutCredentials` hides them in a row not moved yet.
    gitUrl: withoutCredentials(project.gitUrl),
    defaultBranch: project.defaultBranch,
    branchRules: project.branchRules,
    tagRules: project.tagRules,
    dockerfilePath: project.dockerfilePath,
    buildContext: project.buildContext,
    buildArgs: project.buildArgs as Record<string, string>,
    buildSecrets: Object.keys(project.buildSecrets as Record<string, string>).sort(),
    appSpec: AppSpec.parse(project.appSpec),
    registryId: project.registryId,
    imageRepository: project.imageRepository,
    buildAgentGroup: project.buildAgentGroup,
    supersedeQueued: project.supersedeQueued,
    keepReleases: project.keepReleases,
    webhook: { path: `/api/webhooks/gitlab/${project.id}`, secretSet: project.webhookSecretEnc !== null },
    gitlab:
      project.gitlabBaseUrl && project.gitlabProject
        ? {
            baseUrl: project.gitlabBaseUrl,
            project: project.gitlabProject,
            tokenSet: project.gitlabTokenEnc !== null,
          }
        : null,
    createdAt: project.createdAt,
    updatedAt: project.updatedAt,
  }
}
