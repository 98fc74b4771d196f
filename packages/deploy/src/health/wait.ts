import { addressWithPort, type HealthCheck } from '@slipway/contracts'
import { AppError, errorMessage } from '@slipway/core'
import type { ContainerInfo, DockerHost } from '@slipway/docker'
import { canceled, linkedSignal, seconds, sleep } from '../util.ts'
import { type ProbeOutcome, probeHttp, probeTcp } from './probe.ts'

export interface WaitHealthyOptions {
  check: HealthCheck
  /** The instance's address: its host's (never assumed to be this machine). */
  address: string
  /** Port on `address`: the published port (bridge) or the one the app listens on (host). */
  port: number
  /** Longest wait for the instance to become healthy (the strategy's healthTimeoutSeconds). */
  deadlineSeconds: number
  signal: AbortSignal
  /** The container: checked between probes, so an exit fails the wait at once. */
  container?: { host: DockerHost; id: string }
}

/** Runs one probe of `check` against the instance at <address>:<port>. */
export function probeOnce(
  check: HealthCheck,
  target: { address: string; port: number },
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const timeoutMs = check.timeoutSeconds * 1000
  return check.type === 'http'
    ? probeHttp(target.address, target.port, check.path, timeoutMs, signal)
    : probeTcp(target.address, target.port, timeoutMs, signal)
}

/** A run of identical failures, for a precise reason ("answered 500 5 times", "refused for 60 s"). */
interface FailureRun {
  what: string
  count: number
  sinceMs: number
}

function describeFailure(
  check: HealthCheck,
  at: { address: string; port: number },
  outcome: ProbeOutcome & { ok: false },
): string {
  const target = check.type === 'http' ? `GET ${check.path}` : `TCP ${addressWithPort(at.address, at.port)}`
  if (outcome.kind === 'status') return `${target} answered ${outcome.status}`
  if (outcome.kind === 'timeout') return `${target} got no answer within ${check.timeoutSeconds} s`
  return `${target}: ${outcome.message}`
}

function reason(run: FailureRun, nowMs: number, inARow: boolean): string {
  if (inARow) return `${run.what} ${run.count} times in a row`
  return `${run.what} for ${seconds(nowMs - run.sinceMs)} (${run.count} probes)`
}

/**
 * Waits until the instance passes `check.retries` consecutive probes. Fails with
 * HEALTH_CHECK_FAILED when, after the start period, the application answers with a failing
 * status `retries` times in a row, or when nothing healthy happened before the deadline
 * (connection refused, timeouts); with CONTAINER_FAILED when the container stops running;
 * with the driver's error (HOST_UNREACHABLE...) when its host cannot be asked.
 */
export async function waitHealthy(
  options: WaitHealthyOptions,
): Promise<{ probes: number; elapsedMs: number }> {
  // One listener on the caller's signal; the many short calls below listen on ours.
  const linked = linkedSignal(options.signal)
  try {
    return await poll({ ...options, signal: linked.signal })
  } finally {
    linked.dispose()
  }
}

async function poll(options: WaitHealthyOptions): Promise<{ probes: number; elapsedMs: number }> {
  const { check, address, port, signal } = options
  const started = Date.now()
  const deadline = started + options.deadlineSeconds * 1000
  const startPeriodEnd = started + check.startPeriodSeconds * 1000
  let successes = 0
  let answeredFailures = 0
  let probes = 0
  let run: FailureRun | undefined
  for (;;) {
    if (signal.aborted) throw canceled(signal)
    // The container's state and the probe are asked together: one round trip per probe.
    const [info, outcome] = await Promise.all([
      options.container ? assertRunning(options.container.host, options.container.id, signal) : undefined,
      probeOnce(check, { address, port }, signal),
    ])
    if (info?.health?.status === 'unhealthy') {
      const output = info.health.lastOutput ? `: ${info.health.lastOutput}` : ''
      throw new AppError(
        'HEALTH_CHECK_FAILED',
        `the image's HEALTHCHECK reports unhealthy (${info.health.failingStreak} failures)${output}`,
        {
          details: { address, port, probes },
        },
      )
    }
    probes++
    const now = Date.now()
    if (outcome.ok) {
      successes++
      answeredFailures = 0
      run = undefined
      // An image with its own HEALTHCHECK must also say healthy.
      const dockerHealthy = !info?.health || info.health.status === 'healthy'
      if (successes >= check.retries && dockerHealthy) return { probes, elapsedMs: now - started }
    } else {
      successes = 0
      const what = describeFailure(check, { address, port }, outcome)
      run = run?.what === what ? { ...run, count: run.count + 1 } : { what, count: 1, sinceMs: now }
      if (outcome.kind === 'status' && now >= startPeriodEnd) answeredFailures++
      else if (outcome.kind !== 'status') answeredFailures = 0
      if (answeredFailures >= check.retries)
        throw new AppError('HEALTH_CHECK_FAILED', reason(run, now, true), {
          details: { address, port, probes },
        })
    }
    const wait = check.intervalSeconds * 1000
    if (Date.now() + wait > deadline) {
      if (signal.aborted) throw canceled(signal)
      const why = run ? reason(run, Date.now(), false) : `not ${check.retries} healthy probes in a row`
      throw new AppError('HEALTH_CHECK_FAILED', `not healthy within ${options.deadlineSeconds} s: ${why}`, {
        details: { address, port, probes },
      })
    }
    await sleep(wait, signal)
  }
}

async function assertRunning(host: DockerHost, id: string, signal: AbortSignal): Promise<ContainerInfo> {
  const info = await host.inspect(id, { signal })
  if (!info) throw new AppError('CONTAINER_FAILED', `container ${id.slice(0, 12)} on ${host.name} is gone`)
  if (info.state === 'running') return info
  const lines = await host
    .logs(id, { signal, tail: 5 })
    .catch((error: unknown) => [`(its output could not be read: ${errorMessage(error)})`])
  const tail = lines.length ? `; last output: ${lines.join(' | ')}` : ''
  const what =
    info.state === 'restarting'
      ? 'container keeps restarting'
      : info.exitCode !== undefined
        ? `container exited with code ${info.exitCode}`
        : `container is ${info.state}`
  throw new AppError('CONTAINER_FAILED', `${what} on ${host.name}${tail}`, {
    details: { containerId: id, state: info.state, exitCode: info.exitCode },
  })
}
