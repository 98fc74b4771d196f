import { secretContext } from '@slipway/db'
import { splitCredentials } from '@slipway/git'
import { buildSecrets, projectGitUrl } from './build.ts'
import type { SecretsOf } from './runner.ts'

/**
 * Every secret a stage could print by accident: the registry password, credentials in the
 * git URL, and for deploys the environment's secret config values. They are masked in logs.
 */
export const stageSecrets: SecretsOf = async (deps, stage, project) => {
  const values: string[] = []
  if (project.registryId) {
    const registry = await deps.db.registry.findUnique({ where: { id: project.registryId } })
    if (registry?.passwordEnc)
      values.push(deps.secrets.decrypt(registry.passwordEnc, secretContext.registryPassword(registry.id)))
  }
  const { credentials } = splitCredentials(projectGitUrl({ deps, project }))
  if (credentials) {
    values.push(credentials, ...credentials.split(':').filter((part) => part.length >= 4))
  }
  if (stage.kind === 'build') values.push(...Object.values(buildSecrets({ deps, project })))
  if (stage.kind === 'deploy' && stage.environmentId) {
    const latest = await deps.db.configVersion.findFirst({
      where: { environmentId: stage.environmentId },
      orderBy: { version: 'desc' },
      include: { entries: { where: { secret: true } } },
    })
    for (const entry of latest?.entries ?? []) {
      if (entry.valueEnc)
        values.push(
          deps.secrets.decrypt(entry.valueEnc, secretContext.configSecret(stage.environmentId, entry.key)),
        )
    }
  }
  return values
}
