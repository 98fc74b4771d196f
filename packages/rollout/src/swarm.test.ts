import { AppSpec, DeployStrategy } from '@slipway/contracts'
import { describe, expect, it } from 'vitest'
import { judgeSwarm, swarmHealth, swarmPolicies, type TaskView } from './swarm.ts'

const strategy = (change: Partial<DeployStrategy> = {}) => DeployStrategy.parse(change)
const task = (desiredState: string, state: string, current: boolean): TaskView => ({
  desiredState,
  state,
  current,
})

describe('swarmPolicies', () => {
  it('replaces tasks by the rolling batch rule, start-first, rolling back on any failure', () => {
    expect(swarmPolicies(strategy(), 3).update).toEqual({
      parallelism: 1,
      delayMs: 0,
      monitorMs: 5000,
      order: 'start-first',
      failureAction: 'rollback',
      maxFailureRatio: 0,
    })
    expect(swarmPolicies(strategy(), 16).update.parallelism).toBe(2)
    expect(swarmPolicies(strategy({ batchSize: '50%' }), 10).update.parallelism).toBe(5)
    expect(swarmPolicies(strategy({ monitorSeconds: 0.5 }), 1).update.monitorMs).toBe(500)
  })

  it('stops first only when the strategy allows no surge; the rollback pauses if it fails', () => {
    expect(swarmPolicies(strategy({ maxSurge: 0 }), 4).update.order).toBe('stop-first')
    const { rollback } = swarmPolicies(strategy(), 4)
    expect(rollback.failureAction).toBe('pause')
    expect(rollback.order).toBe('start-first')
  })
})

describe('swarmHealth', () => {
  const app = (healthCheck: object) => AppSpec.parse({ containerPort: 8080, healthCheck })

  it('checks HTTP inside the task with wget or curl, with the check timings', () => {
    expect(
      swarmHealth(app({ type: 'http', path: '/ready', intervalSeconds: 5, timeoutSeconds: 4, retries: 4 })),
    ).toEqual({
      shell:
        "wget -q -O /dev/null 'http://127.0.0.1:8080/ready' || curl -fsS -o /dev/null 'http://127.0.0.1:8080/ready'",
      intervalMs: 5000,
      timeoutMs: 4000,
      retries: 4,
      startPeriodMs: 0,
    })
  })

  it('checks at most once a second, each check given at least 3 s (a check is an exec in the task)', () => {
    const health = swarmHealth(app({ type: 'http', intervalSeconds: 0.2, timeoutSeconds: 1 }))
    expect([health.intervalMs, health.timeoutMs]).toEqual([1000, 3000])
  })

  it('quotes a path with a quote in it and checks TCP with nc', () => {
    expect(swarmHealth(app({ type: 'http', path: "/a'b" })).shell).toContain(
      `'http://127.0.0.1:8080/a'\\''b'`,
    )
    expect(swarmHealth(app({ type: 'tcp' })).shell).toBe('nc -z 127.0.0.1 8080')
  })
})

describe('judgeSwarm', () => {
  const base = { specIsOurs: true, updateState: undefined, updateMessage: undefined, replicas: 2 }

  it('is done once exactly the replicas run the new spec and nothing old runs or stops', () => {
    expect(
      judgeSwarm({ ...base, tasks: [task('running', 'running', true), task('running', 'running', true)] }),
    ).toEqual({
      phase: 'done',
    })
    expect(
      judgeSwarm({
        ...base,
        tasks: [
          task('running', 'running', true),
          task('running', 'running', true),
          task('shutdown', 'running', false),
        ],
      }),
    ).toEqual({ phase: 'converging' })
    expect(
      judgeSwarm({ ...base, tasks: [task('running', 'running', true), task('running', 'starting', true)] }),
    ).toEqual({
      phase: 'converging',
    })
    expect(
      judgeSwarm({ ...base, tasks: [task('running', 'running', true), task('running', 'running', false)] }),
    ).toEqual({
      phase: 'converging',
    })
  })

  it('waits while Swarm says updating, even if the tasks look settled', () => {
    const tasks = [task('running', 'running', true), task('running', 'running', true)]
    expect(judgeSwarm({ ...base, updateState: 'updating', tasks })).toEqual({ phase: 'converging' })
    expect(judgeSwarm({ ...base, updateState: 'completed', tasks })).toEqual({ phase: 'done' })
  })

  it('follows a rollback until the old tasks serve again', () => {
    const old = [task('running', 'running', false), task('running', 'running', false)]
    expect(judgeSwarm({ ...base, updateState: 'rollback_started', tasks: old })).toEqual({
      phase: 'rolling-back',
    })
    expect(judgeSwarm({ ...base, specIsOurs: false, updateState: 'rollback_completed', tasks: old })).toEqual(
      {
        phase: 'rolled-back',
      },
    )
    expect(
      judgeSwarm({
        ...base,
        specIsOurs: false,
        updateState: 'rollback_completed',
        tasks: [...old, task('shutdown', 'running', true)],
      }),
    ).toEqual({ phase: 'rolling-back' })
    expect(judgeSwarm({ ...base, specIsOurs: false, tasks: old })).toEqual({ phase: 'rolled-back' })
  })

  it('fails with Swarm message when the update or the rollback pauses', () => {
    expect(
      judgeSwarm({
        ...base,
        updateState: 'paused',
        updateMessage: 'update paused due to failure',
        tasks: [],
      }),
    ).toEqual({ phase: 'failed', reason: 'Swarm paused the update: update paused due to failure' })
    expect(judgeSwarm({ ...base, updateState: 'rollback_paused', updateMessage: 'x', tasks: [] })).toEqual({
      phase: 'failed',
      reason: 'Swarm paused the rollback too: x',
    })
  })
})
