import type { Logger } from '@slipway/core'

/** Whether an answer is worth trying again: a server error, a timeout or being throttled. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429
}

/** How much of an answer a notification reads: enough for an error message, never more. */
const responseReadLimit = 64 * 1024

/**
 * Reads at most `limit` bytes of a response body as text, then cancels the rest (the
 * connection is closed, nothing more is downloaded). A body that breaks off while being read
 * is logged and what arrived is kept: the status already tells the outcome.
 */
export async function readBounded(
  response: Response,
  log: Logger,
  limit = responseReadLimit,
): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: '', truncated: false }
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  let ended = false
  try {
    while (size < limit) {
      const { done, value } = await reader.read()
      if (done) {
        ended = true
        break
      }
      const kept = value.subarray(0, limit - size)
      chunks.push(kept)
      size += kept.byteLength
    }
  } catch (error) {
    ended = true
    log.warn({ err: error, url: response.url }, 'the answer broke off while being read')
  }
  if (!ended) {
    await reader.cancel('answer over the read limit').catch((error: unknown) => {
      log.warn({ err: error, url: response.url }, 'could not cancel the rest of an answer')
    })
  }
  reader.releaseLock()
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: !ended }
}
