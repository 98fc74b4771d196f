import { readFile, realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { AppError, errorMessage } from '@slipway/core'
import { secretContext } from '@slipway/db'
import { type DockerHost, imageTagRef } from '@slipway/docker'
import { checkoutCommit, joinCredentials } from '@slipway/git'
import { assertImageGranted } from './grants.ts'
import { permanent, type StageContext, type StageResult } from './runner.ts'

/** The host a stage runs on, as a driver. */
export async function stageHost(context: StageContext) {
  const { deps, stage, patient } = context
  const name = stage.hostName
  if (!name) throw permanent(`no Docker host recorded for this ${stage.kind} stage`)
  const row = await patient(() => deps.db.host.findUnique({ where: { name } }))
  if (!row) throw permanent(`Docker host ${stage.hostName} is no longer registered`)
  return deps.hosts.get(deps.hostRecord(row))
}

/** The image tag a pipeline's build produces: <registry>/<repository>:<commit>. */
export async function buildTag(context: StageContext): Promise<string> {
  const { deps, project, pipeline, patient } = context
  const id = project.registryId
  const registry = id ? await patient(() => deps.db.registry.findUnique({ where: { id } })) : null
  if (!registry) throw permanent(`project ${project.slug} has no registry to push to`)
  await patient(() => assertImageGranted(deps, project))
  return imageTagRef(registry.url, project.imageRepository, pipeline.commitSha)
}

/** Is `inner` the folder `outer` or inside it? (both real paths) */
const within = (outer: string, inner: string) => inner === outer || inner.startsWith(`${outer}${path.sep}`)

/** The real path of `relative` in the checkout, or a permanent failure saying it is not there. */
async function realIn(dir: string, relative: string, commitSha: string): Promise<string> {
  try {
    return await realpath(path.resolve(dir, relative))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw permanent(`there is no ${relative} in ${commitSha}`)
    throw error
  }
}

/**
 * The build context and the Dockerfile (relative to it) of a checkout, with symbolic links
 * resolved: both must stay inside the repository, and the Dockerfile inside the context. A link
 * to elsewhere on the worker's machine would otherwise read (or send to the build host) files
 * that are not the commit's.
 */
async function buildPaths(
  dir: string,
  project: { buildContext: string; dockerfilePath: string },
  commitSha: string,
): Promise<{ contextDir: string; dockerfile: string }> {
  const root = await realpath(dir)
  const contextDir = await realIn(dir, project.buildContext, commitSha)
  if (!within(root, contextDir))
    throw permanent(
      `the build context ${project.buildContext} leads outside the repository (a symbolic link)`,
    )
  const dockerfilePath = await realIn(dir, project.dockerfilePath, commitSha)
  if (!within(root, dockerfilePath))
    throw permanent(`${project.dockerfilePath} leads outside the repository (a symbolic link)`)
  if (!within(contextDir, dockerfilePath))
    throw permanent(`${project.dockerfilePath} is outside the build context ${project.buildContext}`)
  return { contextDir, dockerfile: path.relative(contextDir, dockerfilePath) }
}

/**
 * The names among `secrets` that a Dockerfile declares with ARG. Build secrets are given
 * only as secret mounts (`RUN --mount=type=secret,id=NAME`): a build argument's value is
 * kept in the image's history, readable by anyone who can pull it. A Dockerfile still
 * reading one as ARG would build with it empty, so such a build is refused, saying how.
 */
export function secretsDeclaredAsArgs(dockerfile: string, secrets: readonly string[]): string[] {
  const wanted = new Set(secrets)
  const found = new Set<string>()
  const instructions = dockerfile.replace(/\\\r?\n/g, ' ').split(/\r?\n/)
  for (const line of instructions) {
    const match = /^\s*ARG\s+(.*)$/i.exec(line)
    if (!match?.[1]) continue
    for (const word of match[1].trim().split(/\s+/)) {
      const name = word.split('=')[0] ?? ''
      if (wanted.has(name)) found.add(name)
    }
  }
  return [...found].sort()
}

/** The project's build secrets, decrypted (their values are masked in the log). */
export function buildSecrets({
  deps,
  project,
}: Pick<StageContext, 'deps' | 'project'>): Record<string, string> {
  const sealed = project.buildSecrets as Record<string, string>
  return Object.fromEntries(
    Object.entries(sealed).map(([name, envelope]) => [
      name,
      deps.secrets.decrypt(envelope, secretContext.projectBuildSecret(project.id, name)),
    ]),
  )
}

/**
 * The URL git fetches the project from: the stored URL with its credentials (encrypted apart,
 * masked in the log) put back. A row whose credentials the API has not moved out yet still
 * has them in `gitUrl`, used as it is.
 */
export function projectGitUrl({ deps, project }: Pick<StageContext, 'deps' | 'project'>): string {
  if (project.gitCredentialsEnc === null) return project.gitUrl
  return joinCredentials(
    project.gitUrl,
    deps.secrets.decrypt(project.gitCredentialsEnc, secretContext.projectGitCredentials(project.id)),
  )
}

/** How long after a failed build the host is asked whether it is still up. */
const downCheckPausesMs = [0, 1000, 2000]

/**
 * A build that fails because its host is going down is the host's failure, not the
 * Dockerfile's: a daemon that is shutting down still answers for a moment and ends the build
 * stream with an error of its own (e.g. "failed to update store for object type
 * *libnetwork.endpoint"). So after a failed build the host is pinged over 2 s; if it stops
 * answering, the failure becomes HOST_UNREACHABLE, which gives the stage another attempt.
 */
export async function hostSideFailureAsDown<T>(
  host: DockerHost,
  signal: AbortSignal,
  build: () => Promise<T>,
): Promise<T> {
  try {
    return await build()
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== 'BUILD_FAILED') throw error
    for (const pauseMs of downCheckPausesMs) {
      if (pauseMs > 0) await sleep(pauseMs, undefined, { signal })
      try {
        await host.ping({ signal: AbortSignal.any([signal, AbortSignal.timeout(2000)]) })
      } catch (down) {
        if (signal.aborted) throw error
        throw new AppError(
          'HOST_UNREACHABLE',
          `Docker host ${host.name} went down during the build (${errorMessage(down)}); the build said: ${error.message}`,
          { cause: error },
        )
      }
    }
    throw error
  }
}

/**
 * Checks out the exact commit, builds the image on the build host chosen for this stage
 * (layer cache is the host's), tagged with the commit SHA. Docker's own output is the log.
 */
export async function buildStage(context: StageContext): Promise<StageResult> {
  const { deps, stage, pipeline, project, log, signal } = context
  const tag = await buildTag(context)
  const host = await stageHost(context)
  const dir = path.join(deps.workDir, `${stage.id}-${stage.attempt}`)
  try {
    await checkoutCommit(projectGitUrl(context), pipeline.commitSha, dir, {
      env: deps.gitEnv,
      signal,
      onLog: (line) => log.write(line),
    })
    const { contextDir, dockerfile } = await buildPaths(dir, project, pipeline.commitSha)
    const secrets = buildSecrets(context)
    const dockerfileText = await readFile(path.join(contextDir, dockerfile), 'utf8')
    const asArgs = secretsDeclaredAsArgs(dockerfileText, Object.keys(secrets))
    if (asArgs.length)
      throw permanent(
        `${project.dockerfilePath} declares the build secret${asArgs.length > 1 ? 's' : ''} ${asArgs.join(', ')} as ARG: ` +
          'build secrets are given only as secret mounts, never as build arguments (whose values stay in the image history); ' +
          `read ${asArgs.length > 1 ? 'them' : 'it'} in a RUN step with --mount=type=secret,id=${asArgs[0]} (the value is in /run/secrets/${asArgs[0]}) and drop the ARG`,
      )
    log.write(`docker build (BuildKit) on ${host.name}: ${tag}`)
    const built = await hostSideFailureAsDown(host, signal, () =>
      host.build({
        contextDir,
        dockerfile,
        tags: [tag],
        buildArgs: project.buildArgs as Record<string, string>,
        secrets,
        // Only what is the same for every build of this commit: a rebuild is then a cache hit
        // and yields the same image.
        labels: { 'slipway.project': project.slug, 'slipway.commit': pipeline.commitSha },
        signal,
        onLog: (line) => log.write(line),
      }),
    )
    return { result: { host: host.name, image: tag, imageId: built.imageId } }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
