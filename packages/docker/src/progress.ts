import type { Readable } from 'node:stream'

/** One message of Docker's JSON progress stream (build, push, pull). */
export interface ProgressMessage {
  stream?: string
  status?: string
  id?: string
  progress?: string
  error?: string
  errorDetail?: { message?: string; code?: number }
  aux?: { ID?: string; Digest?: string; Tag?: string; Size?: number }
}

/**
 * Reads a Docker progress stream to its end, handing every message to `onMessage`. Resolves
 * with the messages' error (Docker reports failures in-band) or undefined. Rejects when the
 * stream errors (daemon gone, request aborted).
 */
export function readProgress(
  stream: Readable,
  onMessage: (message: ProgressMessage) => void,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let buffer = ''
    let failure: string | undefined
    const handle = (line: string) => {
      const trimmed = line.trim()
      if (!trimmed) return
      let message: ProgressMessage
      try {
        message = JSON.parse(trimmed) as ProgressMessage
      } catch (error) {
        // Not JSON: a plain line of output.
        if (!(error instanceof SyntaxError)) throw error
        message = { stream: trimmed }
      }
      if (message.error || message.errorDetail) {
        failure ??= message.errorDetail?.message ?? message.error
      }
      onMessage(message)
    }
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      buffer += chunk
      let newline = buffer.indexOf('\n')
      while (newline >= 0) {
        handle(buffer.slice(0, newline))
        buffer = buffer.slice(newline + 1)
        newline = buffer.indexOf('\n')
      }
    })
    stream.once('end', () => {
      handle(buffer)
      resolve(failure)
    })
    stream.once('error', reject)
    stream.once('close', () => {
      // A stream closed without 'end' was cut off (abort or daemon exit).
      if (!stream.readableEnded) reject(new Error('Docker closed the stream before it ended'))
    })
  })
}

/** Splits Docker's multi-line `stream` text into log lines, without trailing newlines. */
export function streamLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line, index, all) => line !== '' || index < all.length - 1)
}
