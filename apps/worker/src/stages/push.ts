import { AppError } from '@slipway/core'
import { imageDigestRef } from '@slipway/docker'
import { registryAuth } from '../registry.ts'
import { buildTag, stageHost } from './build.ts'
import { permanent, type StageContext, type StageResult } from './runner.ts'

/** The image id the pipeline's build stage recorded (undefined for a build recorded without one). */
async function builtImageId(context: StageContext): Promise<string | undefined> {
  const { deps, pipeline, patient } = context
  const build = await patient(() =>
    deps.db.stage.findFirst({
      where: { pipelineId: pipeline.id, kind: 'build', status: 'succeeded' },
      orderBy: { position: 'asc' },
      select: { result: true },
    }),
  )
  const imageId = (build?.result as { imageId?: unknown } | null)?.imageId
  return typeof imageId === 'string' && /^sha256:[a-f0-9]{64}$/.test(imageId) ? imageId : undefined
}

/**
 * Pushes exactly the image the build stage made (by its recorded id, not whatever the tag
 * names now: another build on the host may have moved it) from its build host with the
 * registry's credentials, checks that the manifest the registry took is that image's, and
 * records the digest: every later stage uses registry/repository@sha256:..., never the tag.
 */
export async function pushStage(context: StageContext): Promise<StageResult> {
  const { deps, pipeline, project, log, signal, patient } = context
  const tag = await buildTag(context)
  const host = await stageHost(context)
  const registry = await patient(() =>
    deps.db.registry.findUniqueOrThrow({ where: { id: project.registryId ?? '' } }),
  )
  const recorded = await builtImageId(context)
  let imageId: string
  if (recorded) {
    if (!(await host.inspectImage(recorded, { signal })))
      throw permanent(`the image built (${recorded}) is not on ${host.name} any more; retry the build stage`)
    // The tag names the built image again, whatever moved it since.
    await host.tagImage(recorded, tag, { signal })
    imageId = recorded
  } else {
    const current = await host.inspectImage(tag, { signal })
    if (!current) throw permanent(`${tag} is not on ${host.name} any more; retry the build stage`)
    log.write(`the build recorded no image id: pushing what ${tag} names (${current.id})`)
    imageId = current.id
  }
  log.write(`docker push ${tag} (${imageId}) from ${host.name}`)
  const { digest } = await host.push(tag, registryAuth(deps, registry), {
    signal,
    onLog: (line) => log.write(line),
  })
  const image = imageDigestRef(registry.url, project.imageRepository, digest)
  // Docker records the manifest it pushed on the image pushed (a manifest digest names one
  // config, i.e. one image id): the digest must be on the built image.
  const pushed = await host.inspectImage(imageId, { signal })
  if (!pushed?.repoDigests.some((reference) => reference.endsWith(`@${digest}`)))
    throw new AppError(
      'PUSH_FAILED',
      `the registry took ${digest} for ${tag}, which is not the image built (${imageId}): the tag moved during the push`,
    )
  await patient(() => deps.db.pipeline.update({ where: { id: pipeline.id }, data: { imageDigest: image } }))
  log.write(`pushed ${image}`)
  return { result: { digest, image, imageId } }
}
