import { AppError } from '@slipway/core'
import { secretContext } from '@slipway/db'
import type { WorkerDeps } from '../deps.ts'
import type { Processor } from '../runtime.ts'
import { readBounded, retryableStatus } from './http.ts'

const descriptions = {
  pending: 'Slipway pipeline queued',
  running: 'Slipway pipeline running',
  success: 'Slipway pipeline succeeded',
  failed: 'Slipway pipeline failed',
  canceled: 'Slipway pipeline canceled',
} as const

/**
 * `gitlab.commitStatus`: POST /api/v4/projects/:id/statuses/:sha with the project's token.
 * Retried with backoff on network errors and 5xx (BullMQ attempts), at most 64 KiB of an
 * answer read; never touches the pipeline itself. A
 * status GitLab refuses as an invalid transition (an older update arriving late) is done.
 */
export function reportCommitStatus(deps: WorkerDeps, publicUrl: string): Processor<'gitlab.commitStatus'> {
  return async ({ pipelineId, state }, { signal, log }) => {
    const pipeline = await deps.db.pipeline.findUnique({
      where: { id: pipelineId },
      include: { project: true },
    })
    if (!pipeline) return { skipped: 'pipeline deleted' }
    const { project } = pipeline
    if (!project.gitlabBaseUrl || !project.gitlabProject || !project.gitlabTokenEnc)
      return { skipped: 'GitLab not configured' }
    const token = deps.secrets.decrypt(project.gitlabTokenEnc, secretContext.projectGitlabToken(project.id))
    const url = new URL(
      `api/v4/projects/${encodeURIComponent(project.gitlabProject)}/statuses/${pipeline.commitSha}`,
      project.gitlabBaseUrl.endsWith('/') ? project.gitlabBaseUrl : `${project.gitlabBaseUrl}/`,
    )
    const body = new URLSearchParams({
      state,
      ref: pipeline.ref,
      name: 'slipway',
      target_url: `${publicUrl.replace(/\/$/, '')}/pipelines/${pipeline.id}`,
      description: `${descriptions[state]} (#${pipeline.number})`,
    })
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'PRIVATE-TOKEN': token, 'content-type': 'application/x-www-form-urlencoded' },
      body,
      signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
    })
    const { text } = await readBounded(response, log)
    if (response.ok) return { status: response.status }
    if (response.status === 400 && /cannot transition/i.test(text)) {
      log.info({ state, pipelineId }, 'GitLab kept its newer commit status')
      return { status: response.status, ignored: true }
    }
    const message = `GitLab answered ${response.status} to the ${state} commit status: ${text.slice(0, 200)}`
    log.warn({ state, pipelineId, status: response.status }, message)
    // 5xx, 408 and 429 are tried again with backoff; another refusal (a revoked token, an
    // unknown project) fails at once: its setup has to change first.
    throw new AppError(
      retryableStatus(response.status) ? 'DEPENDENCY_UNAVAILABLE' : 'PRECONDITION_FAILED',
      message,
    )
  }
}
