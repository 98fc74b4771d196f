import { createHmac } from 'node:crypto'
import { AppError, errorMessage } from '@slipway/core'
import { secretContext } from '@slipway/db'
import { maskUrl, withoutCredentials } from '@slipway/git'
import { enqueueInTx } from '@slipway/jobs'
import type { WorkerDeps } from '../deps.ts'
import type { Processor } from '../runtime.ts'
import { readBounded, retryableStatus } from './http.ts'

/** `X-Slipway-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/**
 * `notify.pipeline`: one delivery per matching hook, recorded and queued in one transaction.
 * Tried again with backoff when it fails (the database away): the transaction is its last
 * step that can fail, so a retry never records a delivery twice.
 */
export function fanOutPipelineEvent(deps: WorkerDeps, publicUrl: string): Processor<'notify.pipeline'> {
  return async ({ pipelineId, event, status }, { log }) => {
    const pipeline = await deps.db.pipeline.findUnique({
      where: { id: pipelineId },
      include: { project: true },
    })
    if (!pipeline) return { deliveries: 0 }
    const hooks = await deps.db.notificationHook.findMany({
      where: { projectId: pipeline.projectId, active: true },
    })
    const matching = hooks.filter((hook) => hook.events.length === 0 || hook.events.includes(event))
    if (!matching.length) return { deliveries: 0 }
    const payload = {
      event,
      pipeline: {
        id: pipeline.id,
        number: pipeline.number,
        status,
        ref: pipeline.ref,
        commitSha: pipeline.commitSha,
        imageDigest: pipeline.imageDigest,
        url: `${publicUrl.replace(/\/$/, '')}/pipelines/${pipeline.id}`,
      },
      project: { id: pipeline.project.id, slug: pipeline.project.slug },
    }
    await deps.db.$transaction(async (tx) => {
      for (const hook of matching) {
        const delivery = await tx.notificationDelivery.create({
          data: { hookId: hook.id, event, status: 'pending', payload },
        })
        await enqueueInTx(tx, 'notify.deliver', { deliveryId: delivery.id })
      }
    })
    // The outbox poller moves the jobs on anyway; a failed kick only delays them.
    await deps.outbox.kick().catch((error: unknown) => {
      log.warn(
        { err: error, pipelineId },
        'could not move the delivery jobs on at once; the outbox poller will',
      )
    })
    return { deliveries: matching.length }
  }
}

/**
 * `notify.deliver`: POSTs the signed JSON. Network errors and 5xx (and 408, 429) are tried
 * again with backoff, up to the catalog's attempts, each failure logged; any other non-2xx
 * answer means the receiver refused it, and it fails at once. At most 64 KiB of an answer is
 * read.
 */
export function deliverNotification(deps: WorkerDeps): Processor<'notify.deliver'> {
  return async ({ deliveryId }, { job, signal, log }) => {
    const delivery = await deps.db.notificationDelivery.findUnique({
      where: { id: deliveryId },
      include: { hook: true },
    })
    if (!delivery || delivery.status === 'delivered') return { skipped: true }
    const secret = deps.secrets.decrypt(
      delivery.hook.secretEnc,
      secretContext.notificationHookSecret(delivery.hookId),
    )
    const body = JSON.stringify(delivery.payload)
    const timestamp = String(Math.floor(Date.now() / 1000))
    const lastTry = job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
    let status: number | undefined
    let error: string | undefined
    let retryable = true
    try {
      const response = await fetch(delivery.hook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Slipway-Hookshot',
          'x-slipway-event': delivery.event,
          'x-slipway-delivery': delivery.id,
          'x-slipway-timestamp': timestamp,
          'x-slipway-signature': signature(secret, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
      })
      status = response.status
      const answer = await readBounded(response, log)
      if (!response.ok) {
        error = `answered ${response.status}${answer.text ? `: ${answer.text.slice(0, 200)}` : ''}`
        retryable = retryableStatus(response.status)
      }
    } catch (cause) {
      // (fetch's own message may quote the URL, credentials and all)
      error = maskUrl(errorMessage(cause))
    }
    const failed = error !== undefined && (lastTry || !retryable)
    await deps.db.notificationDelivery.update({
      where: { id: deliveryId },
      data: {
        attempts: { increment: 1 },
        responseStatus: status ?? null,
        error: error ?? null,
        status: error ? (failed ? 'failed' : 'pending') : 'delivered',
        deliveredAt: error ? null : new Date(),
      },
    })
    if (error === undefined) return { status }
    log.warn(
      { deliveryId, hookId: delivery.hookId, status, attempt: job.attemptsMade + 1, willRetry: !failed },
      `outgoing webhook failed: ${error}`,
    )
    // A refusal (4xx) is not retried: the receiver's setup has to change first.
    throw new AppError(
      retryable ? 'DEPENDENCY_UNAVAILABLE' : 'PRECONDITION_FAILED',
      `webhook ${withoutCredentials(delivery.hook.url)} ${error}`,
    )
  }
}
