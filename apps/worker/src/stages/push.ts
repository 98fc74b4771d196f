import { imageDigestRef } from '@slipway/docker'
import { registryAuth } from '../registry.ts'
import { buildTag, stageHost } from './build.ts'
import { permanent, type StageContext, type StageResult } from './runner.ts'

/**
 * Pushes the built image from its build host with the registry's credentials and records
 * the digest: every later stage uses registry/repository@sha256:..., never the tag.
 */
export async function pushStage(context: StageContext): Promise<StageResult> {
  const { deps, pipeline, project, log, signal, patient } = context
  const tag = await buildTag(context)
  const host = await stageHost(context)
  const registry = await patient(() =>
    deps.db.registry.findUniqueOrThrow({ where: { id: project.registryId ?? '' } }),
  )
  if (!(await host.hasImage(tag, { signal }))) {
    throw permanent(`${tag} is not on ${host.name} any more; retry the build stage`)
  }
  log.write(`docker push ${tag} from ${host.name}`)
  const { digest } = await host.push(tag, registryAuth(deps, registry), {
    signal,
    onLog: (line) => log.write(line),
  })
  const image = imageDigestRef(registry.url, project.imageRepository, digest)
  await patient(() => deps.db.pipeline.update({ where: { id: pipeline.id }, data: { imageDigest: image } }))
  log.write(`pushed ${image}`)
  return { result: { digest, image } }
}
