import { connect } from 'node:net'
import path from 'node:path'
import { AppError, isAppError } from '@slipway/core'
import { sleep } from '../support/bounded.ts'
import { readOptional, replaceFile, withCandidateSites } from './files.ts'
import { checkConfig, type HaproxyTarget } from './layout.ts'
import type { HaproxyRuntime } from './runtime.ts'

export interface ReloadContext {
  target: HaproxyTarget
  runtime: HaproxyRuntime
  confirmTimeoutMs: number
  signal?: AbortSignal
}

export interface Reloaded {
  /** From the `reload` command until the new worker answered as expected. */
  ms: number
  /** The new worker's pid. */
  worker: number
}

/**
 * Changes one site file through a reload: the whole config with the candidate is checked
 * with `haproxy -c` (a rejection keeps the live file and names HAProxy's alerts), the file
 * is moved in, the master reloads seamlessly, and the new worker must answer the Runtime API
 * with `confirm` true. A failed reload puts the previous file back. `text` undefined removes
 * the file. `name` is the site, for messages.
 */
export async function reloadWithFile(
  context: ReloadContext,
  name: string,
  fileName: string,
  text: string | undefined,
  confirm: () => Promise<boolean>,
): Promise<Reloaded> {
  const { target, signal } = context
  const check = await withCandidateSites(target.dir, target.sitesDir, fileName, text, (dir) =>
    checkConfig(target, dir, signal),
  )
  if (check.code !== 0)
    throw new AppError('VALIDATION_FAILED', `HAProxy rejected the config of ${name}: ${check.output}`, {
      details: { site: name, haproxy: check.output },
    })
  const file = path.join(target.sitesDir, fileName)
  const previous = await readOptional(file)
  await replaceFile(file, text)
  try {
    return await reloadAndConfirm(context, name, confirm)
  } catch (error) {
    // Canceled (the agent stops): the file is what should be served; the next agent
    // confirms or reloads it. Any other failure: HAProxy serves the previous file.
    if (!(isAppError(error) && error.code === 'CANCELED')) await replaceFile(file, previous)
    throw error
  }
}

/** Sends `reload` to the master and waits for a new worker that answers with `confirm` true. */
async function reloadAndConfirm(
  context: ReloadContext,
  name: string,
  confirm: () => Promise<boolean>,
): Promise<Reloaded> {
  const { runtime, signal, confirmTimeoutMs } = context
  const before = await runtime.processes(signal)
  const started = performance.now()
  await runtime.reload(signal)
  let last = 'no answer yet'
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    await sleep(wait, signal)
    const table = await unlessTransient(() => runtime.processes(signal))
    if (table instanceof AppError) last = table.message
    else if (table.reloads <= before.reloads)
      last = `master at ${table.reloads} reloads (${before.reloads} before)`
    else if (table.failed > 0)
      throw new AppError(
        'DEPENDENCY_UNAVAILABLE',
        `HAProxy failed to reload for ${name}: the config passed "haproxy -c", so a listen address may be taken (HAProxy's own log has the reason)`,
        { details: { site: name } },
      )
    else {
      const worker = table.workers.find((pid) => !before.workers.includes(pid))
      const answering = worker ? await unlessTransient(() => runtime.workerPid(signal)) : undefined
      const confirmed = worker && answering === worker ? await unlessTransient(confirm) : false
      if (answering instanceof AppError) last = answering.message
      else if (confirmed instanceof AppError) last = confirmed.message
      else if (worker && confirmed) return { ms: Math.round(performance.now() - started), worker }
      else if (worker && answering === worker) last = `worker ${worker} does not serve the change yet`
      else last = `the new worker is ${worker ?? 'not listed yet'}, the Runtime API answers from ${answering}`
    }
    if (performance.now() - started > confirmTimeoutMs)
      throw new AppError(
        'TIMEOUT',
        `HAProxy did not serve the new config of ${name} within ${confirmTimeoutMs} ms: ${last}`,
        { details: { site: name } },
      )
  }
}

/**
 * The work's value, or its error when it is one a reload causes for a moment (the master
 * re-executes itself and its CLI does not answer meanwhile); other errors are thrown.
 */
async function unlessTransient<T>(work: () => Promise<T>): Promise<T | AppError> {
  try {
    return await work()
  } catch (error) {
    if (isAppError(error) && (error.code === 'DEPENDENCY_UNAVAILABLE' || error.code === 'TIMEOUT'))
      return error
    throw error
  }
}

/** True when something accepts connections on address:port (HAProxy could not bind it). */
export function portTaken(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port })
    const done = (taken: boolean) => {
      socket.destroy()
      resolve(taken)
    }
    socket.setTimeout(1000, () => done(false))
    socket.on('connect', () => done(true))
    // catch-ok: any error (refused, unreachable) means no connection was accepted: the answer is no
    socket.on('error', () => done(false))
  })
}
